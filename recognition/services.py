"""Recognition services: the faces of a photo (faces.pipeline) to the best matching persons of a domain."""

from __future__ import annotations

import time
from dataclasses import dataclass

from facerec.routers import search_reads
from faces.distance import cosine_distance
from faces.models_zoo import default_threshold, native_alignment
from faces.pipeline import Face, StageTimer, detect_faces
from faces.quality import QualityBar
from gallery.models import Domain, Person
from recognition import shadow as shadow_mode
from recognition.decision import DECISION_PERSONS, persons_scored
from recognition.search_validation import compare_person_lists

# How fast confidence falls around the threshold: at half the threshold 94, at twice it 6.
CONFIDENCE_STEEPNESS = 4


def match_confidence(distance: float, *, threshold: float, model_name: str | None = None) -> float:
    """How far inside (above 50) or outside (below 50) the threshold a distance is, 0–100:
    ``100 / (1 + (distance / threshold) ** 4)``.

    100 at distance 0, exactly 50 at the threshold (so confidence >= 50 is the same as a match),
    falling smoothly and monotonically with distance: 94 at half the threshold, 6 at twice it.
    Being relative to the threshold in use (the domain's, or the request's), it means the same for
    every model and follows a domain whose threshold is tuned. It is a readable rescaling of
    ``distance``, not a calibrated probability. (It replaced DeepFace's ``find_confidence``, which
    maps the two sides of DeepFace's own threshold into separate 51–100 and 0–49 bands: it jumped
    from 51 to 27 between distances 0.069 and 0.071, and disagreed with any other threshold.)
    On Dlib and the test photos, the median same-person distance (0.039) scores 91 and the median
    different-person distance (0.164) 3. ``model_name`` is accepted and not needed.
    """
    if distance <= 0:
        return 100.0
    if threshold <= 0:
        return 0.0
    return 100.0 / (1.0 + (distance / threshold) ** CONFIDENCE_STEEPNESS)


@dataclass(frozen=True)
class Candidate:
    """A person and the evidence for it (recognition/decision.py): ``distance`` to its centroid,
    which ranks and matches, and ``nearest_face_distance`` to its nearest single face."""

    person: Person
    distance: float
    confidence: float
    faces_matched: int
    nearest_face_distance: float


@dataclass(frozen=True)
class ExactAgreement:
    """Dual mode, for one face: how the approximate answer agrees with exact search."""

    top1_match: bool
    top5_overlap: int
    top5_overlap_pct: float
    exact_candidates: list[Candidate]


def quality_record(face: Face, bar: QualityBar) -> dict | None:
    """The face's quality measurements and its issues against ``bar`` (faces.quality)."""
    return face.quality.as_dict(bar) if face.quality is not None else None


@dataclass(frozen=True)
class FaceResult:
    face: Face
    match: Candidate | None
    candidates: list[Candidate]
    exact_candidates: list[Candidate] | None = None
    quality: dict | None = None  # quality_record against the domain's bar
    below_bar: bool = False  # the quality issues kept the face from being matched
    shadow: shadow_mode.ShadowAgreement | None = None  # shadow mode: the comparison with the legacy file

    @property
    def unmatched_reason(self) -> str | None:
        """Why ``match`` is null: "quality" (below the domain's quality bar; see ``quality.issues``)
        or "no_match" (no person within the threshold); None for a match."""
        if self.below_bar:
            return "quality"
        return None if self.match is not None else "no_match"

    @property
    def nearest(self) -> Candidate | None:
        """The nearest person, within the threshold or not (None: an empty gallery)."""
        return self.candidates[0] if self.candidates else None

    @property
    def exact_agreement(self) -> ExactAgreement | None:
        """With exact search asked for, its agreement with the approximate answer."""
        if self.exact_candidates is None:
            return None
        ann, exact = [c.person.id for c in self.candidates], [c.person.id for c in self.exact_candidates]
        return ExactAgreement(**compare_person_lists(ann, exact), exact_candidates=self.exact_candidates)

    @property
    def comparison(self) -> shadow_mode.ShadowAgreement | ExactAgreement | None:
        """The answer's ``comparison``: with the legacy file in shadow mode, else with exact search
        when it was asked for (in shadow mode that one is ``exact_comparison``)."""
        return self.shadow if self.shadow is not None else self.exact_agreement

    @property
    def exact_comparison(self) -> ExactAgreement | None:
        return self.exact_agreement if self.shadow is not None else None


@dataclass(frozen=True)
class Recognition:
    """A recognized photo: its size in pixels as sent, after EXIF rotation (the pixels the faces'
    boxes are in, whatever size detection ran at), and its faces, largest first."""

    width: int
    height: int
    faces: list[FaceResult]
    mode: str = "pgvector"  # "dual" in shadow mode
    answer_from: str = "pgvector"  # which side's candidates are answered: "pgvector" or "pkl"

    @property
    def shadow(self) -> shadow_mode.ShadowAgreement | None:
        """The largest face's comparison with the legacy file (the old server compared one face)."""
        return self.faces[0].shadow if self.faces else None


def persons_confirmed(*, domain: Domain, person_ids: list[int]) -> dict[int, Person]:
    """Those of ``person_ids`` that exist on the primary, are active and belong to ``domain``, by id:
    one primary-key lookup. Always the primary, whatever the router says: a removal is a promise,
    and a replica that lags must not break it. Scoped to the domain again (the search already is):
    a search never names another domain's person, whatever the rows say."""
    return Person.objects.using("default").filter(domain=domain, active=True).in_bulk(person_ids)


def search_face(
    face: Face, *, domain: Domain, threshold: float, top_k: int, exact: bool = False
) -> list[Candidate]:
    """The ``top_k`` persons nearest to the face by the person-level rule (recognition/decision.py).

    The vector search reads the read replica when one is configured (facerec/routers.py); the
    persons it found are then confirmed on the primary, so a person removed (or deactivated) there
    is never named, even by a replica that has not replayed the removal yet. Those persons are
    dropped before the answer is cut to ``top_k``: every candidate the decision scored is kept in
    reserve (it scores ``DECISION_PERSONS`` of them whatever ``top_k`` is), so a removed first
    person leaves the next one first, as the primary would answer.
    """
    with search_reads():
        scores = persons_scored(
            face.embedding,
            domain_id=domain.id,
            model_name=domain.model_name,
            alignment=domain.alignment,
            threshold=threshold,
            top_k=max(top_k, DECISION_PERSONS),
            exact=exact,
        )
    persons = persons_confirmed(domain=domain, person_ids=[score.person_id for score in scores])
    confirmed = [
        Candidate(
            person=persons[score.person_id],
            distance=score.distance,
            confidence=match_confidence(score.distance, model_name=domain.model_name, threshold=threshold),
            faces_matched=score.faces_matched,
            nearest_face_distance=score.nearest_face_distance,
        )
        for score in scores
        if score.person_id in persons
    ]
    return confirmed[:top_k]


def recognize(
    data: bytes,
    *,
    domain: Domain,
    top_k: int = 5,
    threshold: float | None = None,
    max_faces: int | None = None,
    exact: bool = False,
    quality_check: bool = True,
    timer: StageTimer | None = None,
) -> Recognition:
    """Every face of the photo with the ``top_k`` nearest persons of ``domain``, ordered by the
    distance to each person's centroid (recognition/decision.py says why); ``match`` is the first
    when it is within the threshold (the domain's unless one is given) and the face meets the
    domain's quality bar. A face below the bar still lists its candidates, so a client can see what
    it would have matched; ``quality_check=False`` matches it anyway (its issues are still
    reported). In shadow mode each face is also searched in the domain's legacy DeepFace file and
    carries the comparison, stored and counted (recognition/shadow.py); with ``answer_from=pkl``
    its candidates and match are the file's."""
    bar = domain.quality_bar
    timer = timer or StageTimer()
    threshold = domain.effective_threshold if threshold is None else threshold
    image, faces = detect_faces(
        data,
        model_name=domain.model_name,
        detector=domain.detector,
        alignment=domain.alignment,
        max_faces=max_faces,
        timer=timer,
    )
    shadowed = domain.shadow_enabled and bool(domain.shadow_file)
    results = []
    for face in faces:
        started = time.perf_counter()
        # In shadow mode pgvector lists at least the comparison's 5 persons; the answer keeps top_k.
        candidates = search_face(face, domain=domain, threshold=threshold, top_k=max(top_k, shadow_mode.TOP) if shadowed else top_k)
        timer.add("search", started)
        exact_candidates = None
        if exact:
            started = time.perf_counter()
            exact_candidates = search_face(face, domain=domain, threshold=threshold, top_k=top_k, exact=True)
            timer.add("exact_search", started)
        agreement = None
        if shadowed:
            started = time.perf_counter()
            candidates, agreement = shadow_compare(face, candidates, domain=domain, threshold=threshold, top_k=top_k)
            timer.add("shadow_search", started)
        candidates = candidates[:top_k]
        # Answered from the legacy file, a match is within DeepFace.find's threshold, as it was.
        within = shadow_mode.legacy_threshold(domain) if agreement and agreement.answer_from == "pkl" else threshold
        quality = quality_record(face, bar)
        below_bar = quality_check and bool(quality and quality["issues"])
        best = candidates[0] if candidates and candidates[0].distance <= within and not below_bar else None
        results.append(
            FaceResult(
                face=face, match=best, candidates=candidates, exact_candidates=exact_candidates,
                quality=quality, below_bar=below_bar, shadow=agreement,
            )
        )
    width, height = image.original_size
    compared = [result.shadow for result in results if result.shadow is not None]
    shadow_mode.comparisons_record(domain, compared)
    if shadowed and (compared or not results):
        return Recognition(width, height, results, mode="dual", answer_from=domain.shadow_answer_from)
    return Recognition(width=width, height=height, faces=results)


def shadow_compare(
    face: Face, candidates: list[Candidate], *, domain: Domain, threshold: float, top_k: int
) -> tuple[list[Candidate], shadow_mode.ShadowAgreement | None]:
    """Search the domain's legacy file for the face and compare it with pgvector's ``candidates``.
    Returns the candidates to answer (the file's, mapped to persons, with ``answer_from=pkl``) and
    the agreement; when the file cannot be searched, pgvector's candidates and None."""
    legacy_threshold = shadow_mode.legacy_threshold(domain)
    hits = shadow_mode.legacy_search(face.embedding, domain=domain, top=max(top_k, shadow_mode.TOP))
    if hits is None:
        return candidates, None
    agreement = shadow_mode.agreement(
        [(c.person.name, c.distance) for c in candidates], hits, threshold=threshold,
        legacy_threshold=legacy_threshold, answer_from=domain.shadow_answer_from,
    )
    if domain.shadow_answer_from == "pkl":
        candidates = legacy_candidates(hits[:top_k], domain=domain, threshold=legacy_threshold)
    return candidates, agreement


def legacy_candidates(hits: list[shadow_mode.LegacyHit], *, domain: Domain, threshold: float) -> list[Candidate]:
    """The legacy file's persons as candidates, answered as the old server named them: the domain's
    active person of that name when there is one, else an unsaved person of that name (``id`` null,
    so a client sees that facerec has no such person) — the old server would have named it too."""
    known: dict[str, Person] = {}
    for person in Person.objects.filter(domain=domain, active=True, name__in=[hit.name for hit in hits]).order_by("-id"):
        known[person.name] = person  # the oldest person of a name wins
    return [
        Candidate(
            person=known.get(hit.name) or Person(domain=domain, name=hit.name),
            distance=hit.distance,
            confidence=match_confidence(hit.distance, threshold=threshold),
            faces_matched=hit.rows_matched,
            nearest_face_distance=hit.distance,
        )
        for hit in hits
    ]


@dataclass(frozen=True)
class DetectedFace:
    face: Face
    quality: dict | None  # quality_record against the domain's bar


@dataclass(frozen=True)
class Detection:
    """A photo's faces without search: size as sent (after EXIF rotation), faces largest first."""

    width: int
    height: int
    faces: list[DetectedFace]


def detect(
    data: bytes, *, domain: Domain, max_faces: int | None = None, timer: StageTimer | None = None
) -> Detection:
    """Every face of the photo with its box, landmarks and quality against ``domain``'s bar, found
    by the domain's detector; nothing is searched. The domain's recognizer runs too, as detection
    and embedding are one pipeline."""
    image, faces = detect_faces(
        data, model_name=domain.model_name, detector=domain.detector, alignment=domain.alignment,
        max_faces=max_faces, timer=timer,
    )
    bar = domain.quality_bar
    width, height = image.original_size
    return Detection(
        width=width, height=height, faces=[DetectedFace(face=face, quality=quality_record(face, bar)) for face in faces]
    )


class NoFaceFound(Exception):
    def __init__(self, side: str):
        super().__init__(f"no face was found in {side}")
        self.side = side


@dataclass(frozen=True)
class Comparison:
    verified: bool
    distance: float
    threshold: float
    model_name: str
    alignment: str
    face1: Face
    face2: Face


def compare(
    data1: bytes,
    data2: bytes,
    *,
    model_name: str,
    detector: str,
    alignment: str | None = None,
    threshold: float | None = None,
) -> Comparison:
    """Compare the largest face of each photo, both aligned with ``alignment`` (a domain's; default:
    the model's native one), against ``threshold`` (default: the model's for that alignment).
    Raises NoFaceFound naming a photo without a face."""
    alignment = alignment or native_alignment(model_name)
    threshold = default_threshold(model_name, alignment) if threshold is None else threshold
    faces = []
    for side, data in (("image1", data1), ("image2", data2)):
        _, found = detect_faces(data, model_name=model_name, detector=detector, alignment=alignment, max_faces=1)
        if not found:
            raise NoFaceFound(side)
        faces.append(found[0])
    distance = cosine_distance(faces[0].embedding, faces[1].embedding)
    return Comparison(
        verified=distance <= threshold, distance=distance, threshold=threshold, model_name=model_name,
        alignment=alignment, face1=faces[0], face2=faces[1],
    )
