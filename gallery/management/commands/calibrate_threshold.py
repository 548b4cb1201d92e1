"""Propose (and with --set store) a domain's threshold from its own gallery (gallery/services/calibration.py)."""

from __future__ import annotations

from django.core.management.base import CommandError

from gallery import services
from gallery.management.base import GalleryCommand
from gallery.models import Domain
from gallery.services.calibration import DEFAULT_TARGET, MAX_SAMPLE


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


class Command(GalleryCommand):
    help = (
        "Estimate from a domain's own gallery how often each threshold would name a stranger (each face against "
        "every other person's centroid) and a known person (each face against its own person's centroid without "
        "it), and propose the largest threshold whose predicted stranger rate is within the target."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="Slug of the domain to calibrate")
        parser.add_argument("--target-far", type=float, default=DEFAULT_TARGET,
                            help=f"Highest acceptable share of strangers named (default {DEFAULT_TARGET})")
        parser.add_argument("--set", dest="store", action="store_true",
                            help="Store the proposed threshold as the domain's (otherwise only report it)")
        parser.add_argument("--sample", type=int, default=MAX_SAMPLE,
                            help=f"Faces compared at most, sampled at random (default {MAX_SAMPLE})")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the random sample (default 0)")

    def handle(self, *args, domain, target_far, store, sample, seed, **options):
        target = Domain.objects.filter(slug=domain).first()
        if target is None:
            raise CommandError(f"no domain {domain!r}")
        if not 0 < target_far < 1 or sample < 1:
            raise CommandError("--target-far must be between 0 and 1 and --sample at least 1")
        try:
            result = services.threshold_calibrate(domain=target, target=target_far, sample=sample, seed=seed)
        except services.CalibrationRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{target.slug} ({result.model_name}): {result.persons} persons, {result.faces} faces, "
            f"{result.sampled} compared, {result.genuine_faces} of persons with 2+ faces"
        )
        self.stdout.write(f"{'threshold':>10}  {'strangers named':>16}  {'known named':>12}")
        for row in result.rows:
            marks = [name for name, value in (("proposed", result.proposed), ("current", result.current))
                     if round(value, 4) == row.threshold]
            self.stdout.write(f"{row.threshold:>10.4f}  {percent(row.strangers_named):>16}  "
                              f"{percent(row.known_named):>12}  {', '.join(marks)}".rstrip())
        proposed = result.row(result.proposed)
        summary = (f"proposed threshold {result.proposed:.4f} (predicted strangers named {percent(proposed.strangers_named)}"
                   f" <= {percent(target_far)}, known named {percent(proposed.known_named)})")
        if store:
            services.domain_threshold_set(domain=target, threshold=result.proposed)
            self.stdout.write(f"{summary}; stored as {target.slug}'s threshold (was {result.current:.4f})")
        else:
            self.stdout.write(f"{summary}; not stored (--set stores it)")
