"""System checks: a model whose weights are missing is a configuration error, reported by
``manage.py check`` (and at start-up) instead of as a stack trace in the middle of a request."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from faces.models_zoo import ModelUnavailable, check_available


def _problem(model_name: str, detector: str) -> str | None:
    try:
        check_available(model_name, detector)
    except ModelUnavailable as exc:
        return str(exc)
    return None


def default_model_available(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = _problem(settings.FACEREC_DEFAULT_MODEL, settings.FACEREC_DEFAULT_DETECTOR)
    if problem is None:
        return []
    return [
        checks.Error(
            problem,
            hint="Run `make run` / `python manage.py facerec_models --install` to place the bundled Dlib weights.",
            id="facerec.E001",
        )
    ]


def domain_models_available(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    from gallery.models import Domain

    if not databases:
        return []
    errors = []
    try:
        domains = list(Domain.objects.filter(active=True))
    except DatabaseError:  # not migrated yet
        return []
    for domain in domains:
        problem = _problem(domain.model_name, domain.detector)
        if problem:
            errors.append(checks.Error(f"domain {domain.slug}: {problem}", obj=domain, id="facerec.E002"))
    return errors


def shadow_files_usable(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """A shadowed domain whose file is gone, or which a model switch moved off DeepFace's crop (its
    vectors no longer compare with the file's), is reported rather than compared wrongly."""
    from pathlib import Path

    from faces.models_zoo import DEEPFACE
    from gallery.models import Domain

    if not databases:
        return []
    try:
        domains = list(Domain.objects.filter(active=True, shadow_enabled=True))
    except DatabaseError:  # not migrated yet
        return []
    warnings = []
    for domain in domains:
        if not Path(domain.shadow_file).is_file():
            warnings.append(checks.Warning(f"domain {domain.slug}: shadow file {domain.shadow_file} is missing",
                                           hint="shadow_mode --domain D --file FILE, or --off", obj=domain, id="facerec.W010"))
        elif domain.alignment != DEEPFACE:
            warnings.append(checks.Warning(
                f"domain {domain.slug} is shadowed but on the {domain.alignment} alignment: its vectors do not compare "
                "with a DeepFace file's", hint="shadow_mode --domain D --off", obj=domain, id="facerec.W011"))
    return warnings
