from django.apps import AppConfig


class FacerecConfig(AppConfig):
    """The project package as an app, so that it can host the stack commands (run_stack, stop_stack)."""

    name = "facerec"
    verbose_name = "facerec"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from facerec import metrics

        post_save.connect(metrics.photo_saved, sender="gallery.FacePhoto", dispatch_uid="facerec-metrics-photo")
        post_save.connect(metrics.face_saved, sender="gallery.FaceEmbedding", dispatch_uid="facerec-metrics-face")
        # Celery's signals are connected in facerec/celery.py, where the app is loaded: a web worker
        # that never enqueues never imports Celery.
