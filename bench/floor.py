"""The floor for recognize: DeepFace's detector and recognizer called directly on the image,
with nothing of ours around them (no HTTP, multipart, auth, database, JSON).

It gets exactly what the server's pipeline gets after decoding: the photo scaled to
FACEREC_MAX_IMAGE_SIDE. The work is the minimum any recognizer must do: detect, align and crop
the face (DeepFace's ``extract_face``), resize and normalise it, one forward pass.
"""

from __future__ import annotations

import time

import numpy as np


class Floor:
    def __init__(self, image: bytes, *, model_name: str = "Dlib", detector: str = "dlib"):
        from deepface.modules import modeling

        from faces.images import decode_image

        self.bgr = np.ascontiguousarray(decode_image(image).rgb[:, :, ::-1])
        self.detector_name = detector
        self.detector = modeling.build_model(task="face_detector", model_name=detector)
        self.recognizer = modeling.build_model(task="facial_recognition", model_name=model_name)

    def once(self) -> float:
        """Milliseconds for detect + align + embed of the largest face."""
        from deepface.modules import detection, preprocessing

        started = time.perf_counter()
        areas = self.detector.detect_faces(self.bgr)
        area = max(areas, key=lambda a: a.w * a.h)
        face = detection.extract_face(
            facial_area=area, img=self.bgr, align=True, expand_percentage=0,
            width_border=0, height_border=0, detector_backend=self.detector_name,
        ).img
        target = self.recognizer.input_shape
        face = preprocessing.resize_image(img=face / 255, target_size=(target[1], target[0]))
        self.recognizer.forward(preprocessing.normalize_input(img=face, normalization="base"))
        return (time.perf_counter() - started) * 1000
