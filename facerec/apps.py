from importlib import import_module

from django.apps import AppConfig


class FacerecConfig(AppConfig):
    """The project package as an app, so that it can host the stack commands (run_stack, stop_stack)."""

    name = "facerec"
    verbose_name = "facerec"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.db.models.signals import post_save

        from facerec import logging as request_logging
        from facerec import metrics

        # Imported for its side effect: the API-key scheme's drf-spectacular extension registers
        # itself when the module is loaded.
        import_module("facerec.openapi")

        post_save.connect(metrics.photo_saved, sender="gallery.FacePhoto", dispatch_uid="facerec-metrics-photo")
        post_save.connect(metrics.face_saved, sender="gallery.FaceEmbedding", dispatch_uid="facerec-metrics-face")
        celery_signals.task_failure.connect(metrics.task_failed, dispatch_uid="facerec-metrics-task-failure")
        celery_signals.task_retry.connect(metrics.task_retried, dispatch_uid="facerec-metrics-task-retry")
        celery_signals.before_task_publish.connect(request_logging.task_publishing, dispatch_uid="facerec-reqid-pub")
        celery_signals.task_prerun.connect(request_logging.task_starting, dispatch_uid="facerec-reqid-start")
        celery_signals.task_postrun.connect(request_logging.task_finished, dispatch_uid="facerec-reqid-end")
