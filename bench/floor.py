"""The floor for recognize: the detector, the alignment and the recognizer called directly on the
image, with nothing of ours around them (no HTTP, multipart, auth, database, search, JSON).

It gets exactly what the server's pipeline gets after decoding: the photo scaled to
FACEREC_MAX_IMAGE_SIDE. The work is the minimum any recognizer must do for a new domain: detect,
align the face the way the model was trained (for Dlib, dlib's 5-point landmarks and face chip;
for other models DeepFace's ``extract_face``, resized and normalised), one forward pass, and the
face's quality (size and sharpness: what decides whether the face may be matched).
"""

from __future__ import annotations

import time

import numpy as np


class Floor:
    def __init__(self, image: bytes, *, model_name: str = "Dlib", detector: str = "dlib"):
        from deepface.modules import modeling

        from faces.images import decode_image
        from faces.models_zoo import native_alignment

        self.rgb = np.ascontiguousarray(decode_image(image).rgb)
        self.bgr = np.ascontiguousarray(self.rgb[:, :, ::-1])
        self.detector_name = detector
        self.alignment = native_alignment(model_name)
        self.detector = modeling.build_model(task="face_detector", model_name=detector)
        self.recognizer = modeling.build_model(task="facial_recognition", model_name=model_name)

    def once(self) -> float:
        """Milliseconds for detect + align + embed + quality of the largest face."""
        from faces.models_zoo import DLIB_CHIP
        from faces.quality import face_quality

        started = time.perf_counter()
        areas = self.detector.detect_faces(self.bgr)
        area = max(areas, key=lambda a: a.w * a.h)
        if self.alignment == DLIB_CHIP:
            from faces.alignment import dlib_chips

            chips, landmarks = dlib_chips(self.rgb, [area])
            self.recognizer.model.model.compute_face_descriptor(chips)
        else:
            landmarks = [None]
            self._deepface_embed(area)
        box = {"x": int(area.x), "y": int(area.y), "w": int(area.w), "h": int(area.h)}
        face_quality(self.rgb, box, landmarks=landmarks[0], confidence=float(area.confidence or 0.0))
        return (time.perf_counter() - started) * 1000

    def _deepface_embed(self, area) -> None:
        from deepface.modules import detection, preprocessing

        face = detection.extract_face(
            facial_area=area, img=self.bgr, align=True, expand_percentage=0,
            width_border=0, height_border=0, detector_backend=self.detector_name,
        ).img
        target = self.recognizer.input_shape
        face = preprocessing.resize_image(img=face / 255, target_size=(target[1], target[0]))
        self.recognizer.forward(preprocessing.normalize_input(img=face, normalization="base"))
