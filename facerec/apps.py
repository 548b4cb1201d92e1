from django.apps import AppConfig


class FacerecConfig(AppConfig):
    """The project package as an app, so that it can host the stack commands (run_stack, stop_stack)."""

    name = "facerec"
    verbose_name = "facerec"
