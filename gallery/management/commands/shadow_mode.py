"""Turn a domain's shadow mode on (with its legacy DeepFace gallery file) or off (gallery/services/shadow.py)."""

from __future__ import annotations

from django.core.management.base import CommandError

from gallery import services
from gallery.management.base import GalleryCommand
from gallery.models import Domain


class Command(GalleryCommand):
    help = (
        "Shadow mode: every recognize of the domain also searches its legacy DeepFace gallery file (a "
        "representations_*.pkl, ds_model_*.pkl or ds_model_*.npz) the way DeepFace.find did, answers with "
        '"mode": "dual" and a comparison, and stores it for shadow_report. The file is checked before '
        "anything changes. --off turns it off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="Slug of the domain")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--file", help="The legacy gallery file, on this server (read with import_pkl's "
                                           "restricted unpickler)")
        action.add_argument("--off", action="store_true", help="Turn shadow mode off (comparisons are kept)")
        parser.add_argument("--answer-from", choices=services.shadow.ANSWER_FROM, default="pgvector",
                            help="Which side answers while shadow mode is on (default pgvector; pkl answers as "
                                 "the old server did while pgvector is validated)")

    def handle(self, *args, domain, file, off, answer_from, **options):
        target = Domain.objects.filter(slug=domain).first()
        if target is None:
            raise CommandError(f"no domain {domain!r}")
        if off:
            services.domain_shadow_disable(domain=target)
            self.stdout.write(f"{target.slug}: shadow mode off; pgvector answers alone")
            return
        try:
            checked = services.domain_shadow_enable(domain=target, path=file, answer_from=answer_from)
        except services.ShadowFileRefused as exc:
            raise CommandError(f"{exc}; {target.slug} is unchanged") from None
        self.stdout.write(
            f"{target.slug}: shadow mode on with {checked.path} ({checked.vectors} vectors of {checked.persons} "
            f"persons); answers from {answer_from}"
        )
