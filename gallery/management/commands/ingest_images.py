import multiprocessing
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from tqdm import tqdm

from gallery.ingest import discover, ingest_one, worker_ingest, worker_init
from gallery.models import Domain
from gallery.services import domain_get_or_create


class Command(BaseCommand):
    help = (
        "Load photos from DIR into a domain: one folder per person (folder name = person name), or loose "
        "files named 'Person Name_123.jpg'. Resumable: photos already in the domain (same content) are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, help="Folder with one sub-folder of photos per person")
        parser.add_argument("--domain", required=True, help="Domain slug; created with the default model if missing")
        parser.add_argument("--workers", type=int, default=1, help="Processes embedding photos in parallel (default 1)")
        parser.add_argument("--dry-run", action="store_true", help="List what would be ingested; write nothing")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw the progress bar")

    def handle(self, *args, dir, domain, workers, dry_run, no_progress, **options):
        if not dir.is_dir():
            raise CommandError(f"{dir} is not a directory")
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        photos = list(discover(dir))
        persons = {photo.person_name for photo in photos}
        if dry_run:
            self.stdout.write(f"dry run: {len(photos)} photo(s) of {len(persons)} person(s) in {dir}; nothing written")
            return
        target = self._domain(domain)
        started = time.monotonic()
        counts, failures = self._run(target, photos, workers, progress=not no_progress)
        elapsed = time.monotonic() - started
        for result in failures:
            self.stderr.write(f"  {result.outcome}: {result.path}: {result.reason}")
        rate = (counts["added"] + counts["no_face"]) / elapsed if elapsed else 0.0
        self.stdout.write(
            f"{len(photos)} photo(s) of {len(persons)} person(s): {counts['added']} added, "
            f"{counts['skipped']} already present, {counts['no_face']} without a face, {counts['failed']} failed "
            f"in {elapsed:.1f}s ({rate:.1f} photos/s)"
        )

    def _domain(self, slug: str) -> Domain:
        domain, created = domain_get_or_create(slug=slug)
        if created:
            self.stdout.write(f"created domain {slug!r} with model {domain.model_name}/{domain.detector}")
        return domain

    def _run(self, domain, photos, workers, *, progress):
        counts, failures = Counter(), []
        bar = tqdm(total=len(photos), unit="photo", disable=not progress, file=self.stderr, dynamic_ncols=True)
        for result in self._results(domain, photos, workers):
            counts[result.outcome] += 1
            if result.outcome in ("failed", "no_face"):
                failures.append(result)
            bar.update(1)
            bar.set_postfix(added=counts["added"], skipped=counts["skipped"], failed=counts["failed"], refresh=False)
        bar.close()
        return counts, failures

    def _results(self, domain, photos, workers):
        if workers == 1:
            for photo in photos:
                yield ingest_one(domain.id, photo)
            return
        connections.close_all()  # forked workers must open their own connections
        with multiprocessing.get_context("fork").Pool(workers, initializer=worker_init, initargs=(domain.id,)) as pool:
            yield from pool.imap_unordered(worker_ingest, photos, chunksize=4)
