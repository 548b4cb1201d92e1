import csv
import io
import json
import os
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from facerec.bulk import jobs_run, progress
from faces.models_zoo import ModelUnavailable
from gallery.ingest import archive_files, batches
from gallery.models import Domain
from recognition.batch import files_recognize

CSV_COLUMNS = [
    "file", "face", "box_x", "box_y", "box_w", "box_h", "person_id", "person_name", "person_external_id",
    "distance", "confidence", "unmatched_reason", "quality", "error", "error_message",
]


class Report:
    """The report: CSV or JSON Lines (by the extension), one row per face or one per photo that has
    no face or cannot be read. Each photo's rows are appended with one write, so a killed run leaves
    whole photos and at most one cut line. Reopened, the cut line is dropped and so are the rows of
    the photo before it (it may be the one that was cut), and the photos left are done."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.format = {".csv": "csv", ".jsonl": "jsonl"}.get(self.path.suffix.lower())
        if self.format is None:
            raise CommandError(f"{self.path}: the report's extension says its format: .csv or .jsonl")

    def resume(self) -> set[str]:
        """Make the file a whole report (created, or cut back to its last whole photo) and return
        the files it already has."""
        data = self.path.read_bytes() if self.path.exists() else b""
        cut = not data.endswith(b"\n") and data != b""
        lines = data[: data.rfind(b"\n") + 1].splitlines(keepends=True)
        header = self._header()
        if self.format == "csv" and lines[:1] != [header]:
            if lines:
                raise CommandError(f"{self.path} is not a report of this command; choose another --output")
            self.path.write_bytes(header)  # a new report, or one cut inside its header
            return set()
        files = [self._file(line, number) for number, line in enumerate(lines) if not (self.format == "csv" and number == 0)]
        if cut and files:
            last = files[-1]
            while files and files[-1] == last:
                files.pop()
                lines.pop()
        # Only the tail goes (never a rewrite: a second kill now loses nothing that was kept).
        self.path.touch()
        os.truncate(self.path, sum(len(line) for line in lines))
        return set(files)

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "ab", buffering=0) as handle:
            handle.write(b"".join(self._line(row) for row in rows))

    def _header(self) -> bytes:
        return (",".join(CSV_COLUMNS) + "\n").encode() if self.format == "csv" else b""

    def _file(self, line: bytes, number: int) -> str:
        try:
            if self.format == "csv":
                return next(csv.reader([line.decode()]))[0]
            return json.loads(line)["file"]
        except (ValueError, KeyError, IndexError, TypeError, StopIteration):
            raise CommandError(
                f"{self.path}, line {number + 1}, is not a row of this command; choose another --output"
            ) from None

    def _line(self, row: dict) -> bytes:
        if self.format == "jsonl":
            return (json.dumps(row, ensure_ascii=False) + "\n").encode()
        box, person, error = row["box"] or {}, row["person"] or {}, row["error"] or {}
        values = [
            row["file"], row["face"], box.get("x"), box.get("y"), box.get("w"), box.get("h"), person.get("id"),
            person.get("name"), person.get("external_id"), row["distance"], row["confidence"],
            row["unmatched_reason"], json.dumps(row["quality"]) if row["quality"] else None,
            error.get("code"), error.get("message"),
        ]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(["" if value is None else value for value in values])
        return text.getvalue().encode()


class Command(BaseCommand):
    help = (
        "Recognize every face of every photo under DIR (all sub-folders) against a domain's persons and write "
        "one row per face to a report: file, box, person or unknown, distance, confidence, quality. The rows are "
        "what POST /api/v1/recognize answers for the photo. Resumable: rerun with the same --output after a kill "
        "and the photos already in the report are skipped; the new rows are appended."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, help="Folder of photos, searched with its sub-folders")
        parser.add_argument("--domain", required=True, help="Slug of the domain whose persons are recognized")
        parser.add_argument(
            "--output", required=True, type=Path,
            help="The report: report.csv or report.jsonl (the extension gives the format); an existing one is resumed",
        )
        parser.add_argument("--workers", type=int, default=1, help="Processes recognizing photos in parallel (default 1)")
        parser.add_argument("--batch-size", type=int, default=8, help="Photos handed to a worker at once (default 8)")
        parser.add_argument(
            "--no-progress", action="store_true",
            help="Do not show progress (a bar on a terminal; a line every 30 s and a final one otherwise)",
        )

    def handle(self, *args, dir, domain, output, workers, batch_size, no_progress, **options):
        if not dir.is_dir():
            raise CommandError(f"{dir} is not a directory")
        if workers < 1 or batch_size < 1:
            raise CommandError("--workers and --batch-size must be at least 1")
        target = Domain.objects.filter(slug=domain, active=True).first()
        if target is None:
            raise CommandError(f"no active domain {domain!r}")
        report = Report(output)
        root = dir.resolve()
        files = [path.relative_to(root).as_posix() for path in archive_files(root)]
        done = report.resume()
        todo = [file for file in files if file not in done]
        started = time.monotonic()
        counts = self._run(report, target, root, todo, workers, batch_size, shown=not no_progress)
        self._summary(len(files), len(files) - len(todo), counts, time.monotonic() - started, output)

    def _run(self, report, domain, root, todo, workers, batch_size, *, shown) -> Counter:
        counts = Counter()
        bar = progress(self.stderr, len(todo), shown=shown)
        jobs = batches(todo, batch_size)
        try:
            for results in jobs_run(files_recognize, (domain.id, str(root)), jobs, workers=workers):
                for _, rows in results:
                    report.append(rows)
                    self._count(counts, rows)
                bar.update(len(results))
                bar.set_postfix(faces=counts["faces"], known=counts["known"], errors=counts["errors"], refresh=False)
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        return counts

    @staticmethod
    def _count(counts: Counter, rows: list[dict]) -> None:
        counts["photos"] += 1
        for row in rows:
            if row["error"]:
                counts["errors"] += 1
            else:
                counts["faces"] += 1
                counts["known"] += row["person"] is not None

    def _summary(self, total, skipped, counts, elapsed, output):
        rate = counts["photos"] / elapsed if elapsed else 0.0
        self.stdout.write(
            f"{total} photo(s): {counts['photos']} recognized now, {skipped} already in the report; "
            f"{counts['faces']} face(s), {counts['known']} known, {counts['faces'] - counts['known']} unknown; "
            f"{counts['errors']} photo(s) without a face or unreadable; in {elapsed:.1f}s "
            f"({rate:.2f} photos/s) -> {os.fspath(output)}"
        )
