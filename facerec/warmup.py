"""Load the face models a process will need before it takes traffic (web workers, Celery workers)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import numpy as np

logger = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Blocks at least this large come from mmap and go back to the kernel when freed.
MMAP_THRESHOLD = 128 * 1024


def _libc():
    """glibc, or None (musl, macOS): the tuning below is then skipped."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def malloc_tune() -> bool:
    """Keep a model-serving process's resident memory at what it holds, not at its peak.

    A detection allocates ~17 MB of short-lived buffers (dlib's HOG pyramid of the upsampled photo).
    glibc raises its mmap threshold after the first such block is freed, so that later ones come
    from the heap, whose freed pages mostly stay resident between requests: a worker then sits ~10 MB
    above what it holds. A fixed threshold (the default before the dynamic one, 128 KiB) keeps large
    blocks on mmap, returned when freed (a few thousand page faults per request, ~1 ms). Two arenas,
    as the usual ``MALLOC_ARENA_MAX=2``, which has to be set before the process starts to take effect
    through the environment: a sync worker serves one request at a time."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_ARENA_MAX, 2))


def malloc_trim() -> None:
    """Give the heap's free pages back to the kernel (after warm-up: its one-off allocations)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def warm_models() -> list[tuple[str, str]]:
    """Build the default model and those of all active domains, and run each once on a blank
    image so that lazy initialisation (memory pools, first-call costs) happens now (the recognizer
    only where its first call costs more than later ones)."""
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
        # A forward pass where the first one pays for lazy initialisation (TensorFlow's graph and
        # memory pools); dlib's ResNet has none, so its workers are ready one forward pass sooner.
        if getattr(pipeline.recognizer, "first_call_cost", True):
            blank = np.zeros((1, *pipeline.recognizer.input_shape[::-1], 3), dtype=np.float32)
            pipeline.recognizer.forward(blank)
        warmed.append((model_name, detector))
    return warmed
