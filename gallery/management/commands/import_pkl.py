from pathlib import Path

from django.core.management.base import CommandError

from faces.models_zoo import DEEPFACE, MODEL_DIMENSIONS, ModelUnavailable
from gallery.management.base import GalleryCommand
from gallery.models import Domain, GalleryTask
from gallery.pkl_import import (
    PklError,
    names_from_file,
    pkl_import,
    records_check,
    records_load,
    records_summary,
)
from gallery.services import domain_create, gallery_task_finish, gallery_task_start


class Command(GalleryCommand):
    help = (
        "Migrate a DeepFace find() gallery (representations_*.pkl, ds_model_*.pkl, or the .npz datastore of "
        "newer DeepFace) into a domain. The person is each record's parent folder; vectors are kept as they "
        "are. The pickle is loaded with a restricted unpickler: one that tries to run code is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The PKL (or .npz) file DeepFace's find() wrote in its db_path")
        parser.add_argument("--domain", required=True, help="Domain slug; created with --model if missing")
        parser.add_argument("--model", required=True, help="The DeepFace model that computed the vectors, e.g. ArcFace")
        parser.add_argument(
            "--detector", help="Detector for a new domain (default: the one in the file name, else the default)"
        )

    def handle(self, *args, file, domain, model, detector, **options):
        if not file.is_file():
            raise CommandError(f"{file} is not a file")
        if model not in MODEL_DIMENSIONS:
            raise CommandError(f"unknown model {model!r}; known: {', '.join(MODEL_DIMENSIONS)}")
        file_model, file_detector = names_from_file(file)
        if file_model and file_model.replace("-", "") != model.lower().replace("-", ""):
            raise CommandError(f"{file.name} was written by model {file_model!r}, not {model!r}")
        try:
            records = records_load(file)
            records_check(records, model)
        except PklError as exc:
            raise CommandError(str(exc)) from None
        persons, faces = records_summary(records)
        self.stdout.write(f"{file.name}: {len(records)} record(s), {faces} with a face, {persons} person(s)")
        target = self._domain(domain, model, detector or file_detector)
        record = gallery_task_start(
            kind=GalleryTask.Kind.IMPORT_PKL, domain=target, total=len(records),
            params={"file": str(file), "model": model},
        )
        try:
            counts = pkl_import(domain=target, model_name=model, records=records, source=str(file))
        except PklError as exc:
            gallery_task_finish(task=record, status=GalleryTask.Status.FAILED, error=str(exc))
            raise CommandError(str(exc)) from None
        gallery_task_finish(task=record, status=GalleryTask.Status.DONE, done=len(records), result=dict(counts))
        self.stdout.write(
            f"imported {counts['imported']} face(s) into {target.slug!r} ({model}); "
            f"{counts['skipped']} already present, {counts['no_face']} record(s) without a face"
        )

    def _domain(self, slug: str, model: str, detector: str | None) -> Domain:
        domain = Domain.objects.filter(slug=slug).first()
        if domain is not None:
            if domain.space != (model, DEEPFACE):
                raise CommandError(
                    f"domain {slug!r} is served by {domain.model_name} on the {domain.alignment} alignment; import "
                    f"{model} vectors (DeepFace's crop) into a domain of that model with the {DEEPFACE} alignment "
                    f"(or switch the domain first)"
                )
            return domain
        from django.conf import settings

        try:
            # DeepFace's crop: new photos of the domain must land in the same space as the PKL's vectors.
            domain = domain_create(
                slug=slug, model_name=model, detector=detector or settings.FACEREC_DEFAULT_DETECTOR, alignment=DEEPFACE
            )
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created domain {slug!r} with model {model}/{domain.detector}")
        return domain
