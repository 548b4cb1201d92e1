"""Recognition services: photo bytes to faces, faces to the best matching persons of a domain."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from facerec.routers import search_reads
from gallery.models import Domain, FaceEmbedding, Person
from recognition.images import DecodedImage, decode_image
from recognition.pipeline import Face, StageTimer, get_pipeline


def detect_faces(
    data: bytes, *, model_name: str, detector: str, max_faces: int | None = None, timer: StageTimer | None = None
) -> tuple[DecodedImage, list[Face]]:
    """Decode a photo and find its faces, largest first, with boxes in the photo's own pixels."""
    timer = timer or StageTimer()
    started = time.perf_counter()
    image = decode_image(data)
    timer.add("decode", started)
    faces = get_pipeline(model_name, detector).faces(image.rgb, max_faces=max_faces, timer=timer)
    return image, [_to_original(face, image.scale) for face in faces]


def _to_original(face: Face, scale: float) -> Face:
    if scale == 1.0:
        return face
    box = {key: int(round(value / scale)) for key, value in face.box.items()}
    return Face(box=box, confidence=face.confidence, embedding=face.embedding)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(1.0 - a.dot(b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def match_confidence(distance: float, *, model_name: str, threshold: float) -> float:
    """DeepFace's confidence score (0–100) for a cosine distance, on the domain's threshold."""
    from deepface.modules.verification import find_confidence

    return float(find_confidence(distance, model_name, distance <= threshold, "cosine"))


@dataclass(frozen=True)
class Candidate:
    person: Person
    distance: float
    confidence: float
    faces_matched: int


@dataclass(frozen=True)
class FaceResult:
    face: Face
    match: Candidate | None
    candidates: list[Candidate]
    exact_candidates: list[Candidate] | None = None


def search_face(
    face: Face, *, domain: Domain, threshold: float, top_k: int, exact: bool = False
) -> list[Candidate]:
    with search_reads():  # served by the read replica when one is configured (facerec/routers.py)
        hits = FaceEmbedding.objects.nearest_persons(
            face.embedding,
            domain_id=domain.id,
            model_name=domain.model_name,
            threshold=threshold,
            top_k=top_k,
            exact=exact,
        )
        # Scoped to the domain again (the query already is): a search never names another
        # domain's person, whatever the rows say.
        persons = Person.objects.filter(domain=domain).in_bulk([hit.person_id for hit in hits])
    return [
        Candidate(
            person=persons[hit.person_id],
            distance=hit.distance,
            confidence=match_confidence(hit.distance, model_name=domain.model_name, threshold=threshold),
            faces_matched=hit.faces_matched,
        )
        for hit in hits
        if hit.person_id in persons
    ]


def recognize(
    data: bytes,
    *,
    domain: Domain,
    top_k: int = 5,
    threshold: float | None = None,
    max_faces: int | None = None,
    exact: bool = False,
    timer: StageTimer | None = None,
) -> list[FaceResult]:
    """Every face of the photo with the ``top_k`` nearest persons of ``domain``; ``match`` is the
    nearest when it is within the threshold (the domain's unless one is given)."""
    timer = timer or StageTimer()
    threshold = domain.effective_threshold if threshold is None else threshold
    _, faces = detect_faces(
        data, model_name=domain.model_name, detector=domain.detector, max_faces=max_faces, timer=timer
    )
    results = []
    for face in faces:
        started = time.perf_counter()
        candidates = search_face(face, domain=domain, threshold=threshold, top_k=top_k)
        timer.add("search", started)
        exact_candidates = None
        if exact:
            started = time.perf_counter()
            exact_candidates = search_face(face, domain=domain, threshold=threshold, top_k=top_k, exact=True)
            timer.add("exact_search", started)
        best = candidates[0] if candidates and candidates[0].distance <= threshold else None
        results.append(FaceResult(face=face, match=best, candidates=candidates, exact_candidates=exact_candidates))
    return results


class NoFaceFound(Exception):
    def __init__(self, side: str):
        super().__init__(f"no face was found in {side}")
        self.side = side


@dataclass(frozen=True)
class Comparison:
    verified: bool
    distance: float
    threshold: float
    face1: Face
    face2: Face


def compare(
    data1: bytes, data2: bytes, *, model_name: str, detector: str, threshold: float | None = None
) -> Comparison:
    """Compare the largest face of each photo; raises NoFaceFound naming a photo without one."""
    from recognition.models_zoo import default_threshold

    threshold = default_threshold(model_name) if threshold is None else threshold
    faces = []
    for side, data in (("image1", data1), ("image2", data2)):
        _, found = detect_faces(data, model_name=model_name, detector=detector, max_faces=1)
        if not found:
            raise NoFaceFound(side)
        faces.append(found[0])
    distance = cosine_distance(faces[0].embedding, faces[1].embedding)
    return Comparison(
        verified=distance <= threshold, distance=distance, threshold=threshold, face1=faces[0], face2=faces[1]
    )
