"""The recognition endpoints' inputs and answers (recognition/apis.py, legacy.py, web.py).

Each answer is built by the serializer that drf-spectacular publishes as its schema, so the two
cannot drift apart (tests/ops/test_openapi.py checks real answers against the schema). The inputs'
options (``RecognizeOptions``, ``CompareOptions``, ``domain_field``) are also the views' own, so
the limits the schema documents are the ones enforced; each input has an example for Swagger's
"Try it out" (facerec/openapi.py). recognition/schemas.py puts them together per operation.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from facerec.openapi import DOMAIN_SLUG_MAX_LENGTH, EXAMPLE_DOMAIN
from faces.models_zoo import default_threshold
from gallery.models import GalleryTask
from gallery.serializers import BoxSerializer, PersonRefSerializer, QualitySerializer

# A one-pixel grey PNG: Swagger's JSON example is a real image (with no face in it).
EXAMPLE_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR42mNoAAAAggCB2kUIOwAAAABJRU5ErkJggg=="
# The longest base64 text read_image accepts (MAX_UPLOAD_BYTES decoded, plus padding); longer is 413.
BASE64_MAX_LENGTH = settings.MAX_UPLOAD_BYTES * 4 // 3 + 4


def domain_field(help_text: str = "Optional when the key has exactly one domain") -> serializers.SlugField:
    return serializers.SlugField(
        required=False, max_length=DOMAIN_SLUG_MAX_LENGTH, help_text=help_text, style={"example": EXAMPLE_DOMAIN}
    )


def threshold_field(meaning: str) -> serializers.FloatField:
    model = settings.FACEREC_DEFAULT_MODEL
    return serializers.FloatField(
        required=False, min_value=0.0, max_value=2.0, style={"example": default_threshold(model)},
        help_text=(
            f"Cosine distance at or under which {meaning}. Default: the domain's own "
            f"(`threshold` in GET /api/v1/domains; {default_threshold(model)} for {model}, the example). "
            "Omit it (in Swagger: clear the field) to use the domain's."
        ),
    )


def base64_field(name: str) -> serializers.CharField:
    return serializers.CharField(
        max_length=BASE64_MAX_LENGTH, style={"example": EXAMPLE_BASE64},
        help_text=f"The {name}, base64 (a data: URL prefix is accepted); longer than maxLength answers 413",
    )


class RoundedFloatField(serializers.FloatField):
    """A float answered rounded to ``decimals`` places."""

    def __init__(self, *, decimals: int, **kwargs):
        self.decimals = decimals
        super().__init__(**kwargs)

    def to_representation(self, value) -> float:
        return round(float(value), self.decimals)


CONFIDENCE_HELP = (
    "0-100, from the distance relative to the threshold: 100 / (1 + (distance / threshold)^4). 100 at "
    "distance 0, 50 at the threshold (at or above 50: a match), falling smoothly with distance; not a probability"
)


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


IMAGE_SIZE_HELP = "The photo's size in pixels as sent, after EXIF rotation: the pixels the boxes are in"


# A services.Candidate.
class MatchSerializer(serializers.Serializer):
    person = PersonRefSerializer()
    distance = RoundedFloatField(
        decimals=6,
        help_text="Cosine distance (1 - cos) to the person's centroid (the mean of its face vectors): what ranks "
                  "the candidates and what is compared with the threshold",
    )
    confidence = RoundedFloatField(decimals=2, help_text=CONFIDENCE_HELP)


class CandidateSerializer(MatchSerializer):
    faces_matched = serializers.IntegerField(help_text="The person's faces within the threshold")
    nearest_face_distance = RoundedFloatField(decimals=6, help_text="Cosine distance to the person's nearest single face")


# The old server's dual-mode comparison (a recognition.shadow.ShadowAgreement), as /recognize answers it.
class ShadowComparisonSerializer(serializers.Serializer):
    top1_match = serializers.BooleanField(help_text="The same top-1 person both ways (unknown both ways counts)")
    pkl_top1 = serializers.CharField(allow_null=True, help_text="The legacy file's nearest person within "
                                     "DeepFace.find's threshold (the identity's folder name), or null")
    pgvector_top1 = serializers.CharField(allow_null=True, help_text="pgvector's match's name, or null")
    top5_overlap = serializers.IntegerField()
    top5_overlap_pct = serializers.FloatField()


# A services.ExactAgreement (exact=true) or a recognition.shadow.ShadowAgreement (shadow mode).
class ComparisonSerializer(serializers.Serializer):
    top1_match = serializers.BooleanField()
    top5_overlap = serializers.IntegerField()
    top5_overlap_pct = serializers.FloatField()
    exact_candidates = CandidateSerializer(many=True, required=False, help_text="exact=true: exact search's persons")
    pkl_top1 = serializers.CharField(allow_null=True, required=False, help_text="Shadow mode: the legacy file's top-1")
    pgvector_top1 = serializers.CharField(allow_null=True, required=False, help_text="Shadow mode: pgvector's top-1")
    pkl_top5 = serializers.ListField(child=serializers.CharField(), required=False,
                                     help_text="Shadow mode: the legacy file's persons within its threshold")
    pgvector_top5 = serializers.ListField(child=serializers.CharField(), required=False,
                                          help_text="Shadow mode: pgvector's persons within the threshold")
    pkl_distance = RoundedFloatField(decimals=6, allow_null=True, required=False)
    pgvector_distance = RoundedFloatField(decimals=6, allow_null=True, required=False)
    answer_from = serializers.ChoiceField(choices=["pgvector", "pkl"], required=False,
                                          help_text="Shadow mode: which side answered")


# A services.FaceResult.
class FaceResultSerializer(serializers.Serializer):
    box = BoxSerializer(source="face.box", help_text="In the pixels of the photo as sent (after EXIF rotation)")
    detection_confidence = RoundedFloatField(decimals=4, source="face.confidence")
    quality = QualitySerializer(help_text="The face's quality and its issues against the domain's quality bar")
    match = MatchSerializer(
        allow_null=True, help_text="The nearest person within the threshold, or null (see unmatched_reason)"
    )
    unmatched_reason = serializers.ChoiceField(
        choices=["quality", "no_match"], allow_null=True,
        help_text="Why match is null: quality (below the domain's quality bar, see quality.issues; "
        "quality_check=false matches it anyway) or no_match (no person within the threshold); null for a match",
    )
    candidates = CandidateSerializer(
        many=True, help_text="Nearest persons by distance to their centroid, nearest first, at most top_k"
    )
    comparison = ComparisonSerializer(
        required=False, help_text="In shadow mode: agreement with the domain's legacy DeepFace file; else only "
        "with exact=true: agreement with exact search",
    )
    exact_comparison = ComparisonSerializer(
        required=False, help_text="Only with exact=true in shadow mode: agreement with exact search",
    )

    def to_representation(self, result) -> dict:
        data = super().to_representation(result)
        for key in ("comparison", "exact_comparison"):
            if data[key] is None:  # neither shadow mode nor exact search
                del data[key]
        return data


# Recognize's options; the view's InputSerializer extends it, so limits are declared once. (A comment,
# not a docstring: drf-spectacular would publish a docstring as the request body's description.)
class RecognizeOptions(serializers.Serializer):
    domain = domain_field()
    top_k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100, style={"example": 5},
                                     help_text="Candidates per face")
    threshold = threshold_field("the nearest person is a match")
    max_faces = serializers.IntegerField(required=False, min_value=1, max_value=100, style={"example": 10},
                                         help_text="Only the largest faces (default: every face)")
    exact = serializers.BooleanField(required=False, default=False, style={"example": False},
                                     help_text="Also run exact search and report the agreement as `comparison`")
    quality_check = serializers.BooleanField(
        required=False, default=True, style={"example": True},
        help_text="false: match faces below the domain's quality bar too (their issues are still reported)",
    )


class PhotoFile(serializers.Serializer):
    image = serializers.FileField(help_text="The photo (JPEG, PNG, WebP, GIF, BMP, TIFF …)")


class PhotoBase64(serializers.Serializer):
    image_base64 = base64_field("photo")


class RecognizeJson(PhotoBase64, RecognizeOptions):
    pass


class RecognizeMultipart(PhotoFile, RecognizeOptions):
    pass


# {"domain": Domain, "threshold": the one used, "recognition": services.Recognition,
#  "timings_ms": StageTimer.stages with the total}
class RecognizeResponse(serializers.Serializer):
    domain = serializers.SlugField(source="domain.slug")
    model = serializers.CharField(source="domain.model_name")
    detector = serializers.CharField(source="domain.detector")
    threshold = serializers.FloatField()
    mode = serializers.ChoiceField(
        choices=["pgvector", "dual"], source="recognition.mode",
        help_text="dual: shadow mode, each face also searched in the domain's legacy DeepFace file (see comparison)",
    )
    answer_from = serializers.ChoiceField(
        choices=["pgvector", "pkl"], source="recognition.answer_from",
        help_text="Which side's candidates are answered (pkl: the legacy file, in shadow mode)",
    )
    image = ImageSizeSerializer(source="recognition", help_text=IMAGE_SIZE_HELP)
    faces = FaceResultSerializer(many=True, source="recognition.faces",
                                 help_text="Largest face first; empty when the photo has no face")
    timings_ms = serializers.DictField(child=RoundedFloatField(decimals=2), help_text="decode, detect, align, embed, search, total")


# --- Detect ------------------------------------------------------------------------------------


# Detect's options; the view's InputSerializer extends it.
class DetectOptions(serializers.Serializer):
    domain = domain_field("Whose detector and quality bar apply; optional when the key has exactly one domain")
    max_faces = serializers.IntegerField(required=False, min_value=1, max_value=100, style={"example": 10},
                                         help_text="Only the largest faces (default: every face)")


class DetectJson(PhotoBase64, DetectOptions):
    pass


class DetectMultipart(PhotoFile, DetectOptions):
    pass


# A services.DetectedFace.
class DetectedFaceSerializer(serializers.Serializer):
    box = BoxSerializer(source="face.box", help_text="In the pixels of the photo as sent (after EXIF rotation)")
    detection_confidence = RoundedFloatField(decimals=4, source="face.confidence")
    landmarks = serializers.ListField(
        source="face.landmarks", allow_null=True, child=serializers.ListField(child=serializers.FloatField()),
        help_text="dlib's 5 points as [x, y] in the photo's pixels (two corners of each eye, the base of the "
        "nose), when the domain's detector gives them; else null",
    )
    quality = QualitySerializer(help_text="The face's quality and its issues against the domain's quality bar")


# {"domain": Domain, "detection": services.Detection, "timings_ms": StageTimer.stages with the total}
class DetectResponse(serializers.Serializer):
    domain = serializers.SlugField(source="domain.slug")
    detector = serializers.CharField(source="domain.detector")
    image = ImageSizeSerializer(source="detection", help_text=IMAGE_SIZE_HELP)
    faces = DetectedFaceSerializer(many=True, source="detection.faces",
                                   help_text="Largest face first; empty when the photo has no face")
    timings_ms = serializers.DictField(child=RoundedFloatField(decimals=2), help_text="decode, detect, embed, total")


# Compare's options; the view's InputSerializer extends it.
class CompareOptions(serializers.Serializer):
    domain = domain_field(
        "Use this domain's model and threshold (default: the key's domain when it has exactly one, else the "
        "default model and its threshold)"
    )
    threshold = threshold_field("the two faces are the same person")


class ComparePhotoFiles(serializers.Serializer):
    image1 = serializers.FileField(help_text="The first photo")
    image2 = serializers.FileField(help_text="The second photo")


class ComparePhotosBase64(serializers.Serializer):
    image1_base64 = base64_field("first photo")
    image2_base64 = base64_field("second photo")


class CompareMultipart(ComparePhotoFiles, CompareOptions):
    pass


class CompareJson(ComparePhotosBase64, CompareOptions):
    pass


class CompareFacesSerializer(serializers.Serializer):
    image1 = BoxSerializer(source="face1.box")
    image2 = BoxSerializer(source="face2.box")

    class Meta:
        ref_name = "CompareFaces"


# A services.Comparison.
class CompareResponse(serializers.Serializer):
    verified = serializers.BooleanField()
    distance = RoundedFloatField(decimals=6)
    threshold = serializers.FloatField()
    model = serializers.CharField(source="model_name")
    alignment = serializers.CharField(help_text="How both faces were cropped for the model (dlib_chip, deepface)")
    faces = CompareFacesSerializer(source="*")


# --- The legacy front end's route ------------------------------------------------------------


# A services.FaceResult, as the old server answered it: the match's person, or nulls.
class LegacyFaceSerializer(serializers.Serializer):
    name = serializers.CharField(source="match.person.name", allow_null=True,
                                 help_text="The matched person's name, or null (unknown)")
    person_id = serializers.IntegerField(source="match.person.id", allow_null=True)
    external_id = serializers.CharField(source="match.person.external_id", allow_null=True)
    distance = RoundedFloatField(decimals=6, source="nearest.distance", allow_null=True,
                                 help_text="To the nearest person's centroid (null: empty gallery)")
    confidence = RoundedFloatField(decimals=2, source="match.confidence", read_only=True, default=0.0,
                                   help_text="The match's confidence (as in /api/v1/recognize); 0 for an unknown face")
    box = BoxSerializer(source="face.box")
    comparison = ShadowComparisonSerializer(source="shadow", required=False, help_text="Shadow mode only")

    def to_representation(self, result) -> dict:
        data = super().to_representation(result)
        if data["comparison"] is None:
            del data["comparison"]
        return data


class LegacyRecognize(PhotoFile):
    domain = domain_field()


# {"status": "success", "recognition": services.Recognition}
class LegacyResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["success"])
    recognized_faces = LegacyFaceSerializer(many=True, source="recognition.faces")
    mode = serializers.ChoiceField(choices=["pgvector", "dual"], source="recognition.mode",
                                   help_text="dual: shadow mode (see comparison)")
    comparison = ShadowComparisonSerializer(
        source="recognition.shadow", required=False,
        help_text="Shadow mode: the largest face's comparison with the legacy file (each face carries its own)",
    )
    image = ImageSizeSerializer(source="recognition", help_text=IMAGE_SIZE_HELP)

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if data.get("comparison") is None:
            data.pop("comparison", None)
        return data


# --- Batch recognition (recognition/batch.py) --------------------------------------------------


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=["no_face", "unreadable", "empty_image", "invalid_image", "unsupported_image", "image_too_large"],
        help_text="no_face: a readable photo without a face; unreadable: the file could not be read; the others "
        "are the image errors of POST /api/v1/recognize (400 empty_image, invalid_image; 413 image_too_large; "
        "415 unsupported_image)",
    )
    message = serializers.CharField()

    class Meta:
        ref_name = "BatchError"


# A batch.BatchRow: one face of a photo of a batch, or the photo's error. (A comment, not a
# docstring: drf-spectacular would publish a docstring as the component's description.)
class BatchRowSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="The photo: its path under the folder (recognize_images), or the "
                                           "uploaded file's name (recognize-batch)")
    face = serializers.IntegerField(allow_null=True, help_text="1 for the largest face of the photo, 2 for the next …; "
                                                               "null on an error row")
    box = BoxSerializer(allow_null=True, help_text="In the pixels of the photo as sent (after EXIF rotation)")
    person = PersonRefSerializer(allow_null=True, help_text="The match, as recognize's `match.person`; null: unknown")
    distance = RoundedFloatField(
        decimals=6, allow_null=True,
        help_text="To the nearest person's centroid: the match's distance, or for an unknown face the nearest "
                  "person's (recognize's first candidate); null when the domain has no person",
    )
    confidence = RoundedFloatField(decimals=2, allow_null=True, help_text=f"Of that distance: {CONFIDENCE_HELP}")
    unmatched_reason = serializers.ChoiceField(
        choices=["quality", "no_match"], allow_null=True, help_text="As in recognize: why person is null"
    )
    quality = QualitySerializer(allow_null=True, help_text="The face's quality against the domain's bar")
    error = BatchErrorSerializer(allow_null=True, help_text="Why the photo has no face row; null on a face row")


# The accepted batch: {"task": GalleryTask, "results": the results endpoint's URL}
class RecognizeBatchAccepted(serializers.Serializer):
    task = serializers.UUIDField(source="task.id", help_text="The task: GET /api/v1/tasks/{id}, or `results`")
    status = serializers.ChoiceField(choices=GalleryTask.Status.choices, source="task.status")
    files = serializers.IntegerField(source="task.total", help_text="Photos accepted")
    results = serializers.URLField(help_text="Where the rows are, page by page: GET .../recognize-batch/{task}")


# {"task": GalleryTask, "count", "next", "previous", "rows": this page's rows}
class RecognizeBatchResults(serializers.Serializer):
    task = serializers.UUIDField(source="task.id")
    status = serializers.ChoiceField(
        choices=GalleryTask.Status.choices, source="task.status",
        help_text="queued, running (rows so far), done (every row), failed (see error; no photo is kept)",
    )
    done = serializers.IntegerField(source="task.done", help_text="Photos recognized so far")
    total = serializers.IntegerField(source="task.total", help_text="Photos in the batch")
    error = serializers.CharField(source="task.error", allow_blank=True)
    count = serializers.IntegerField(help_text="Rows so far (one per face, one per photo without a face)")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BatchRowSerializer(many=True, source="rows", help_text="In upload order; a photo's faces largest first")
