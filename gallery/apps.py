from django.apps import AppConfig
from django.core import checks


class GalleryConfig(AppConfig):
    name = "gallery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gallery import checks as gallery_checks
        from gallery import signals  # noqa: F401 - connects the handlers

        checks.register(gallery_checks.domain_models_available, checks.Tags.database)
        checks.register(gallery_checks.shadow_files_usable, checks.Tags.database)
        checks.register(gallery_checks.default_model_available)
