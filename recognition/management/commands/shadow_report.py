"""How a domain's live answers agreed with its legacy DeepFace gallery in shadow mode (recognition/shadow.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gallery.models import Domain
from recognition.shadow import shadow_report


def parse_since(value: str) -> datetime:
    """``24h``, ``7d``, ``90m`` (that long ago) or an ISO date/time (a date is its midnight, local time)."""
    relative = re.fullmatch(r"(\d+)([mhd])", value.strip())
    if relative:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[relative[2]]
        return timezone.now() - timedelta(**{unit: int(relative[1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r}: give an ISO date or time (2026-05-01, 2026-05-01T08:00) or 24h / 7d / 90m") from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Shadow mode's verdict for a domain: over the comparisons stored by recognize (each face searched by "
        "pgvector and in the legacy DeepFace file), the top-1 agreement, the mean top-5 overlap and the most "
        "frequent disagreements. Exits 1 when the top-1 agreement is below --min-top1 (or nothing was compared)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="Slug of the domain")
        parser.add_argument("--since", help="Only comparisons since then: an ISO date/time, or 24h, 7d, 90m ago "
                                            "(default: all)")
        parser.add_argument("--min-top1", type=float, default=0.95,
                            help="Bar for the top-1 agreement, 0-1 (default 0.95, the old migration plan's)")
        parser.add_argument("--worst", type=int, default=10, help="Disagreements listed (default 10)")

    def handle(self, *args, domain, since, min_top1, worst, **options):
        target = Domain.objects.filter(slug=domain).first()
        if target is None:
            raise CommandError(f"no domain {domain!r}")
        start = parse_since(since) if since else None
        report = shadow_report(target, since=start, worst=worst)
        window = f"since {start.isoformat(timespec='minutes')}" if start else "all time"
        if not report.comparisons:
            raise CommandError(f"{target.slug}: no shadow comparisons ({window}); is shadow mode on (shadow_mode)?")
        self.stdout.write(
            f"{target.slug}, {report.comparisons} face(s) compared ({window}), shadow mode "
            f"{'on' if target.shadow_enabled else 'off'}, answering from {target.shadow_answer_from}:\n"
            f"  top-1 agreement {100 * report.top1_agreement:.1f} %, top-5 overlap {100 * report.top5_overlap:.1f} %"
        )
        if report.worst:
            self.stdout.write("  most frequent disagreements (pkl -> pgvector, faces, last request id):")
            for item in report.worst:
                self.stdout.write(f"    {item.pkl_top1 or '(unknown)'} -> {item.pgvector_top1 or '(unknown)'}: "
                                  f"{item.count}  {item.last_request_id or '-'}")
        verdict = f"top-1 agreement {100 * report.top1_agreement:.1f} % {{}} the bar {100 * min_top1:.1f} %"
        if report.top1_agreement < min_top1:
            raise CommandError(verdict.format("is below"))
        self.stdout.write(verdict.format("meets"))
