"""Decoding at reduced size: big JPEGs are decoded by libjpeg at 1/2, 1/4 or 1/8 scale."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from faces.images import _fitted, decode_image


def _jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_fitted_keeps_the_aspect_ratio_and_never_enlarges():
    assert _fitted((1600, 1200), 640) == (640, 480)
    assert _fitted((1200, 1600), 640) == (480, 640)
    assert _fitted((300, 200), 640) == (300, 200)


def test_a_4_3_photo_is_decoded_at_reduced_scale(monkeypatch):
    drafted = []
    original = Image.Image.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(Image.Image, "draft", spy)

    decoded = decode_image(_jpeg(1600, 1200), max_side=640)

    assert drafted == [(800, 600)]  # libjpeg scaled by 1/2; a square 640x640 request would not
    assert decoded.rgb.shape == (480, 640, 3)
    assert decoded.scale == 640 / 1600
