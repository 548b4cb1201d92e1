"""manage.py audit_log: the audit trail, one line per change, newest first."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from gallery.management.base import GalleryCommand
from gallery.models import AuditEvent
from gallery.services import audit_purge

_AGO = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def moment(value: str) -> datetime:
    """``2026-05-01``, ``2026-05-01T12:00`` (the server's time zone unless given) or an age: 30m, 24h, 7d."""
    if match := _AGO.match(value.strip()):
        return timezone.now() - timedelta(**{_UNITS[match[2]]: int(match[1])})
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise ValueError(f"not a date, a date and time, or an age like 24h: {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def line(event: AuditEvent) -> str:
    actor = f"{event.get_actor_kind_display()} {event.actor_name or '-'}"
    where = f" [{event.domain_slug}]" if event.domain_slug else ""
    target = f" {event.object_type} {event.object_id}".rstrip() if event.object_type else ""
    details = f" {json.dumps(event.details, sort_keys=True)}" if event.details else ""
    request = f" request={event.request_id}" if event.request_id else ""
    return f"{timezone.localtime(event.created):%Y-%m-%d %H:%M:%S%z}  {actor}: {event.action}{target}{where}{details}{request}"


class Command(GalleryCommand):
    help = ("Print the audit trail, one line per change, newest first: when, who (API key, staff user or command, "
            "by name), the action, the object, its domain, details and the request id.")

    def add_arguments(self, parser):
        parser.add_argument("--domain", help="Only the changes of this domain (by slug; also a removed domain's)")
        parser.add_argument("--limit", type=int, default=100, help="Print at most this many lines (default 100; 0: all)")
        parser.add_argument("--since", help="Only changes since then: a date, a date and time, or an age (30m, 24h, 7d)")
        parser.add_argument("--action", help="Only this action (e.g. person.delete) or actions starting with it (person.)")
        parser.add_argument(
            "--purge-before", metavar="WHEN",
            help="Instead of printing, delete the rows older than WHEN (a retention policy; the purge is itself recorded)",
        )

    def handle(self, *args, domain, limit, since, action, purge_before, **options):
        try:
            since, purge_before = (moment(value) if value else None for value in (since, purge_before))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if limit < 0:
            raise CommandError("--limit must be 0 (all) or more")
        if purge_before is not None:
            deleted = audit_purge(before=purge_before)
            self.stdout.write(f"Purged {deleted} audit row(s) older than {purge_before:%Y-%m-%d %H:%M:%S%z}.")
            return
        events = AuditEvent.objects.all()
        if domain:
            events = events.filter(domain_slug=domain)
        if since:
            events = events.filter(created__gte=since)
        if action:
            events = events.filter(action__startswith=action)
        shown = 0
        for event in events[:limit] if limit else events.iterator():
            self.stdout.write(line(event))
            shown += 1
        self.stderr.write(f"{shown} change(s){' (--limit reached)' if limit and shown == limit else ''}.")
