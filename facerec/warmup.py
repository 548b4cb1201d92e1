"""Load the face models a process will need before it takes traffic (web workers, Celery workers)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

# glibc's mallopt parameter (malloc.h).
_M_ARENA_MAX = -8


def _libc():
    """glibc, or None (musl, macOS): the tuning below is then skipped."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def malloc_tune() -> bool:
    """Two malloc arenas, as the usual ``MALLOC_ARENA_MAX=2`` (which only takes effect through the
    environment when set before the process starts): a sync worker serves one request at a time.

    Not done: a fixed mmap threshold (128 KiB) would also hand dlib's ~17 MB of per-request HOG
    buffers back to the kernel after each detection, 5 MB less resident, but the page faults made
    recognize 5-13% slower (median of 20 requests, 2 rounds each, load average 3-7 on 2 cores)."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, 2))


def malloc_trim() -> None:
    """Give the heap's free pages back to the kernel (after warm-up: its one-off allocations)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def gc_deferred() -> Iterator[None]:
    """The cyclic garbage collector paused while a worker starts, and what the start-up built frozen
    (``gc.freeze``) when it is switched back on. A start imports ~1,200 modules: ~100k tracked
    objects that live as long as the worker, which every collection their allocations triggered
    scanned again (a full one took 0.1-0.2 s on 2 cores, ~0.3 s per start in all). Frozen, later
    collections (those of requests too) skip them. The start-up's own cyclic garbage (~1,500
    objects, ~0.3 MB, mostly throwaway classes) stays frozen with them: collecting it first costs
    another full collection, 0.1-0.3 s, for no difference in RSS that could be measured."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def warm_models() -> list[tuple[str, str]]:
    """Build the default model and those of all active domains, and run each once on a blank
    image so that lazy initialisation (memory pools, first-call costs) happens now (the recognizer
    only where its first call costs more than later ones)."""
    import django

    django.setup()  # before numpy: settings.py sets the BLAS threads (one) that OpenBLAS starts on load
    import numpy as np
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
        # A blank photo of the largest size a photo is scaled to: the detector allocates its image
        # pyramid at full size once here, which also raises glibc's mmap threshold to those buffers'
        # size, so that a first real photo's pyramid comes from the heap instead of fresh mmaps
        # (the first recognize after a start was 1.5-2x a warm one with a 160 px warm-up).
        side = settings.FACEREC_MAX_IMAGE_SIDE
        pipeline.faces(np.zeros((side, side, 3), dtype=np.uint8))
        # A forward pass: the first one pays for lazy initialisation (TensorFlow's graph and memory
        # pools; the buffers of dlib's OpenBLAS).
        blank = np.zeros((1, *pipeline.recognizer.input_shape[::-1], 3), dtype=np.float32)
        pipeline.recognizer.forward(blank)
        warmed.append((model_name, detector))
    return warmed


def warm_web() -> None:
    """What a web worker's first request would otherwise load: the URLconf (every view module), the
    image decoders (Pillow registers its format plugins on the first photo opened) and the cache
    the API throttle counts in (its backend's module and connection). Each is loaded or opened
    once, and a failure here is left for the request that needs it to report."""
    import io

    from django.core.cache import cache
    from django.urls import get_resolver
    from PIL import Image

    from faces.images import ImageRejected, decode_image

    get_resolver().url_patterns  # noqa: B018 - loads every view module
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    try:
        decode_image(buffer.getvalue())
    except ImageRejected:
        logger.warning("the image decoders were not warmed", exc_info=True)
    try:
        cache.get("facerec:warm")
    except Exception:  # noqa: BLE001 - the cache being down is /readyz's to report, not start-up's
        logger.warning("the cache was not reached at warm-up", exc_info=True)
