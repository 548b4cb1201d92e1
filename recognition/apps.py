from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Batch recognition runs recognition's service, so recognition enters it in the gallery's
        # registry of background work (the gallery never imports recognition).
        from gallery.models import GalleryTask
        from gallery.services import BackgroundWork, background_work_register
        from recognition.batch import recognize_batch_run

        background_work_register(kind=GalleryTask.Kind.RECOGNIZE_BATCH, work=BackgroundWork(
            recognize_batch_run, "bulk",
            "Recognize every face of uploaded photos (recognize-batch), deleting each photo once done.",
        ))
