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
