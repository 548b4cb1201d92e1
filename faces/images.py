"""Turning uploaded bytes into an RGB array the face pipeline can use, or a clear client error.

Decoding honours EXIF orientation, converts every mode (RGBA, CMYK, L, I;16, P, …) to RGB, refuses
decompression bombs, and decodes JPEGs at reduced size (libjpeg's DCT scaling via ``draft``) when
the photo is much larger than what detection needs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


class ImageRejected(Exception):
    """The bytes are not a usable image. ``code`` is the API error code, ``status`` its HTTP status."""

    def __init__(self, message: str, *, code: str = "invalid_image", status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3, uint8, already scaled to at most max_side
    scale: float  # decoded size / original size, to map boxes back to the original photo
    original_size: tuple[int, int]  # (width, height) after EXIF rotation
    extension: str  # file extension of the photo's format, e.g. "jpg"


def decode_image(data: bytes, *, max_side: int | None = None) -> DecodedImage:
    max_side = max_side or settings.FACEREC_MAX_IMAGE_SIDE
    if not data:
        raise ImageRejected("the image is empty", code="empty_image")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"the image is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="too_large", status=413
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_pixels(image.size)
            original = _oriented_size(image)
            extension = _EXTENSIONS.get(image.format or "", "img")
            if image.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: much faster for big photos. draft()
                # only scales while *both* sides stay at least the size asked for, so ask for the
                # photo's own aspect ratio (a square box would keep a 4:3 photo at full size).
                image.draft("RGB", _fitted(image.size, max_side))
            image = ImageOps.exif_transpose(image)
            image = _to_rgb(image)
            image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
            rgb = np.asarray(image, dtype=np.uint8)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("the image has too many pixels", code="image_too_large", status=413) from None
    except UnidentifiedImageError:
        raise ImageRejected("the file is not an image in a supported format", code="unsupported_image", status=415) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageRejected(f"the image could not be decoded: {exc}") from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageRejected("the image has no pixels")
    scale = rgb.shape[1] / original[0] if original[0] else 1.0
    return DecodedImage(rgb=np.ascontiguousarray(rgb), scale=scale, original_size=original, extension=extension)


def _fitted(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is at most ``max_side`` (never enlarged)."""
    factor = min(1.0, max_side / max(size))
    return max(1, int(size[0] * factor)), max(1, int(size[1] * factor))


def _check_pixels(size: tuple[int, int]) -> None:
    if size[0] * size[1] > settings.FACEREC_MAX_IMAGE_PIXELS:
        raise ImageRejected(
            f"the image has {size[0]}x{size[1]} pixels, more than {settings.FACEREC_MAX_IMAGE_PIXELS}",
            code="image_too_large",
            status=413,
        )


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    orientation = image.getexif().get(0x0112, 1)
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        image = Image.fromarray((array * (255.0 / peak)).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white rather than whatever colour they hide.
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def encode_jpeg(rgb: np.ndarray, *, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
