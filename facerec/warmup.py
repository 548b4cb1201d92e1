"""Load the face models a process will need before it takes traffic (web workers, Celery workers)."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def warm_models() -> list[tuple[str, str]]:
    """Build the default model and those of all active domains, and run each once on a blank
    image so that lazy initialisation (memory pools, first-call costs) happens now."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import DatabaseError

    from faces.models_zoo import ModelUnavailable
    from faces.pipeline import get_pipeline
    from gallery.models import Domain

    pairs = {(settings.FACEREC_DEFAULT_MODEL, settings.FACEREC_DEFAULT_DETECTOR)}
    try:
        pairs |= set(Domain.objects.filter(active=True).values_list("model_name", "detector"))
    except DatabaseError:
        logger.warning("could not list domains to warm their models", exc_info=True)
    warmed = []
    for model_name, detector in sorted(pairs):
        try:
            pipeline = get_pipeline(model_name, detector)
        except ModelUnavailable as exc:
            logger.error("model %s/%s not warmed: %s", model_name, detector, exc)
            continue
        pipeline.faces(np.zeros((160, 160, 3), dtype=np.uint8))
        blank = np.zeros((1, *pipeline.recognizer.input_shape[::-1], 3), dtype=np.float32)
        pipeline.recognizer.forward(blank)
        warmed.append((model_name, detector))
    return warmed
