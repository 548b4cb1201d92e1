import csv
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import CommandError

from facerec.bulk import jobs_run, progress
from gallery.ingest import NAME_STYLES, batches, discover, ingest_batch
from gallery.management.base import GalleryCommand
from gallery.models import Domain, GalleryTask
from gallery.services import (
    clusters_update,
    domain_get_or_create,
    gallery_task_advance,
    gallery_task_finish,
    gallery_task_start,
    person_get_or_create,
    persons_remove_empty,
)

# Failures kept on the ingest's task record (the admin shows them); --report has them all.
FAILURES_KEPT = 200


class Command(GalleryCommand):
    help = (
        "Load photos from DIR into a domain: one folder per person (folder name = person name), or loose "
        "files named 'Person Name_123.jpg'. Resumable and kill-safe: photos already in the domain (same "
        "content) are skipped, so a rerun finishes what a killed run started without duplicating anything."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, help="Folder with one sub-folder of photos per person, or loose files")
        parser.add_argument("--domain", required=True, help="Domain slug; created with the default model if missing")
        parser.add_argument("--workers", type=int, default=1, help="Processes embedding photos in parallel (default 1)")
        parser.add_argument(
            "--batch-size", type=int, default=8, help="Photos handed to a worker (and to one --async task) at once"
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be ingested; write nothing")
        parser.add_argument(
            "--async",
            dest="queue",
            action="store_true",
            help="Store the photos and enqueue Celery embed tasks (one per batch) instead of embedding here",
        )
        parser.add_argument(
            "--name-style",
            choices=list(NAME_STYLES),
            default="as-is",
            help="How a folder (or loose file) name becomes the person's name: "
            + "; ".join(f"{style}: {meaning}" for style, meaning in NAME_STYLES.items())
            + " (default as-is)",
        )
        parser.add_argument(
            "--unlabeled",
            action="store_true",
            help="An archive: every photo under DIR (any depth, folder names ignored) is stored without a person, "
            "every face in it unassigned, then grouped into clusters of unknown people (name them in the API or admin)",
        )
        parser.add_argument("--report", type=Path, help="Write every failed or faceless file to this CSV")
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Do not show progress (a bar on a terminal; a line every 30 s and a final one otherwise)",
        )

    def handle(self, *args, dir, domain, workers, batch_size, dry_run, queue, name_style, report, no_progress,
               unlabeled=False, **options):
        if not dir.is_dir():
            raise CommandError(f"{dir} is not a directory")
        if workers < 1 or batch_size < 1:
            raise CommandError("--workers and --batch-size must be at least 1")
        photos = list(discover(dir, name_style=name_style, unlabeled=unlabeled))
        names = sorted({photo.person_name for photo in photos if photo.person_name})
        if dry_run:
            self._dry_run(dir, photos, names, domain)
            return
        target = self._domain(domain)
        persons = {name: person_get_or_create(domain=target, name=name) for name in names}
        person_ids = {name: person.id for name, (person, _) in persons.items()}
        record = gallery_task_start(
            kind=GalleryTask.Kind.INGEST, domain=target, total=len(photos),
            params={"dir": str(dir), "workers": workers, "async": queue, "unlabeled": unlabeled},
        )
        started = time.monotonic()
        jobs = list(batches(photos, batch_size))
        counts, failures = self._run(target, person_ids, jobs, workers, queue, record, shown=not no_progress)
        elapsed = time.monotonic() - started
        self._finish(record, counts, failures, report)
        # Persons created for this run whose every photo failed are not left behind empty.
        persons_remove_empty(person_ids=[person.id for person, is_new in persons.values() if is_new])
        self._summary(photos, names, counts, failures, elapsed)
        if unlabeled and not queue:  # with --async, each embedding task enqueues the clustering
            clustered = clusters_update(domain=target)
            clusters = target.clusters.filter(dismissed=False, faces__isnull=False).distinct().count()
            self.stdout.write(f"clustered {clustered['faces']} new face(s); the domain has {clusters} cluster(s)")

    def _dry_run(self, dir, photos, names, slug):
        existing = Domain.objects.filter(slug=slug).first()
        self.stdout.write(
            f"dry run: {len(photos)} photo(s) of {len(names)} person(s) in {dir} would go to domain {slug!r}"
            f"{'' if existing else ' (to be created)'}; nothing written"
        )
        for name in names[:20]:
            self.stdout.write(f"  {name}: {sum(photo.person_name == name for photo in photos)} photo(s)")
        if len(names) > 20:
            self.stdout.write(f"  … and {len(names) - 20} more person(s)")

    def _domain(self, slug: str) -> Domain:
        domain, created = domain_get_or_create(slug=slug)
        if created:
            self.stdout.write(f"created domain {slug!r} with model {domain.model_name}/{domain.detector}")
        return domain

    def _run(self, domain, person_ids, jobs, workers, queue, record, *, shown):
        counts, failures = Counter(), []
        total = sum(len(job) for job in jobs)
        bar = progress(self.stderr, total, shown=shown)
        for results in jobs_run(ingest_batch, (domain.id, person_ids), jobs, workers=workers, kwargs={"queue": queue}):
            for result in results:
                counts[result.outcome] += 1
                if result.outcome in ("failed", "no_face"):
                    failures.append(result)
            bar.update(len(results))
            bar.set_postfix(added=counts["added"] + counts["queued"], skipped=counts["skipped"],
                            failed=counts["failed"], refresh=False)
            gallery_task_advance(task=record, by=len(results))
        bar.close()
        return counts, failures

    def _finish(self, record, counts, failures, report):
        if report:
            with open(report, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["file", "outcome", "reason"])
                writer.writerows((result.path, result.outcome, result.reason) for result in failures)
        gallery_task_finish(task=record, status=GalleryTask.Status.DONE, result={
            "counts": dict(counts),
            "failures": [[r.path, r.outcome, r.reason] for r in failures[:FAILURES_KEPT]],
        })

    def _summary(self, photos, names, counts, failures, elapsed):
        if failures:
            self.stderr.write(f"{len(failures)} file(s) not embedded (file: reason):")
            for result in failures:
                self.stderr.write(f"  {result.outcome}: {result.path}: {result.reason}")
        done = counts["added"] + counts["no_face"] + counts["queued"]
        rate = done / elapsed if elapsed else 0.0
        queued = f"{counts['queued']} queued for Celery, " if counts["queued"] else ""
        self.stdout.write(
            f"{len(photos)} photo(s) of {len(names)} person(s): {counts['added']} added, {queued}"
            f"{counts['skipped']} already present, {counts['no_face']} without a face, {counts['failed']} failed "
            f"in {elapsed:.1f}s ({rate:.2f} photos/s)"
        )
