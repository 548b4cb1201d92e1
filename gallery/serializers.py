"""The gallery API's answers: each serializer builds its answer in the view (gallery/apis.py) and is
the schema drf-spectacular publishes for it, so the two cannot drift apart (tests/ops/test_openapi.py
checks real answers against the schema).

``BoxSerializer`` and ``QualitySerializer`` are also recognition's: a face box and a face's quality
are the same shape in every answer.
"""

from __future__ import annotations

from rest_framework import serializers

from faces.quality import ISSUES as QUALITY_ISSUES
from gallery.models import FacePhoto, GalleryTask


class BlankAsNullCharField(serializers.CharField):
    """An optional text, stored as "" when absent and answered as null."""

    def to_representation(self, value) -> str | None:
        return value or None


class BoxSerializer(serializers.Serializer):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    w = serializers.IntegerField()
    h = serializers.IntegerField()


# A faces.quality record (FaceQuality.as_dict): measurements and issues against a domain's bar.
class QualitySerializer(serializers.Serializer):
    size = serializers.IntegerField(help_text="The face box's shorter side, in the photo's pixels")
    sharpness = serializers.FloatField(help_text="Variance of the Laplacian of the grey face resized to 128 px")
    yaw = serializers.FloatField(allow_null=True, help_text="Degrees, head turned (from landmarks); null: unknown")
    roll = serializers.FloatField(allow_null=True, help_text="Degrees, head tilted (from landmarks); null: unknown")
    detection_confidence = serializers.FloatField()
    issues = serializers.ListField(
        child=serializers.ChoiceField(choices=list(QUALITY_ISSUES)),
        help_text="Below the domain's quality bar: too_small, blurry, profile; empty: the face meets it",
    )


# A Domain annotated with person_count and photo_count. (Comments, not docstrings, on these classes:
# drf-spectacular publishes a docstring as the component's description.)
class DomainSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    model = serializers.CharField(source="model_name", help_text="DeepFace recognition model serving searches")
    detector = serializers.CharField()
    alignment = serializers.CharField(help_text="How faces are cropped for the model: dlib_chip or deepface")
    threshold = serializers.FloatField(source="effective_threshold", help_text="Effective cosine-distance threshold")
    pending_model = BlankAsNullCharField(allow_null=True, help_text="Model being switched to, if any")
    pending_alignment = BlankAsNullCharField(allow_null=True, help_text="Alignment being switched to, if any")
    person_count = serializers.IntegerField()
    photo_count = serializers.IntegerField()
    face_count = serializers.SerializerMethodField(help_text="Faces embedded in the serving space (model, alignment)")

    def get_face_count(self, domain) -> int:
        return domain.faces.filter(model_name=domain.model_name, alignment=domain.alignment).count()


class DomainListSerializer(serializers.Serializer):
    results = DomainSerializer(many=True)


# A Person annotated with its counts (gallery.apis.persons_with_counts).
class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    active = serializers.BooleanField()
    photo_count = serializers.IntegerField(allow_null=True)
    face_count = serializers.IntegerField(allow_null=True, help_text="Faces embedded with the domain's model")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


# A person as faces, clusters and recognize's matches name it (recognition uses it too).
class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True,
        help_text="Null only in shadow mode answering from the legacy file, for a name this domain has no person of",
    )
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)


class FaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(source="model_name")
    person = PersonRefSerializer(allow_null=True, help_text="The face's person; null: an unassigned face of an archive photo")
    cluster = serializers.IntegerField(source="cluster_id", allow_null=True,
                                       help_text="The cluster of an unassigned face (GET .../clusters), or null")
    box = BoxSerializer()
    detection_confidence = serializers.FloatField()
    quality = QualitySerializer(allow_null=True, help_text="Null for faces stored before quality was measured")
    searchable = serializers.BooleanField(help_text="False: below the domain's quality bar, never returned by search")


# A FacePhoto, its faces prefetched.
class PhotoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    person_id = serializers.IntegerField(allow_null=True, help_text="Null: an archive photo, its faces assigned one by one")
    sha256 = serializers.CharField(source="content_hash", help_text="SHA-256 of the bytes as uploaded (hex)")
    status = serializers.ChoiceField(choices=FacePhoto.Status.choices)
    reason = serializers.CharField(
        allow_blank=True,
        help_text="Why a photo has no face or failed, or why its face is kept out of search "
        "(\"face below the quality bar: too_small, blurry\")",
    )
    source_name = serializers.CharField(allow_blank=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    faces = FaceSerializer(many=True)
    created = serializers.DateTimeField()


class PhotoListSerializer(serializers.Serializer):
    results = PhotoSerializer(many=True)


# One photo of an upload, a services.UploadedPhoto: the photo's fields are read from its photo,
# created (in place of the photo's date) and task from the upload.
class UploadedPhotoSerializer(PhotoSerializer):
    created = serializers.BooleanField(help_text="False: the same picture was already in the domain")
    task = serializers.UUIDField(source="task.pk", allow_null=True, help_text="The embedding task (GET /api/v1/tasks/{id})")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        for name, field in fields.items():
            if name not in ("created", "task"):
                field.source = f"photo.{field.source or name}"
        return fields


class UploadSerializer(serializers.Serializer):
    photos = UploadedPhotoSerializer(many=True)
    tasks = serializers.ListField(child=serializers.UUIDField())


# The photo of a cluster's face: enough to find it again (content hash, the name it came with).
class ClusterPhotoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sha256 = serializers.CharField(source="content_hash", help_text="SHA-256 of the bytes as uploaded (hex)")
    source_name = serializers.CharField(allow_blank=True)


class ClusterFaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    box = BoxSerializer()
    photo = ClusterPhotoSerializer()


# A FaceCluster with ``size`` annotated and its faces prefetched (gallery.apis.clusters_listed).
class ClusterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Faces in the cluster")
    faces = ClusterFaceSerializer(many=True)
    suggestion = PersonRefSerializer(
        allow_null=True, help_text="An existing person whose faces match the cluster's (within the threshold)"
    )


class AssignmentSerializer(serializers.Serializer):
    person = PersonRefSerializer()
    person_created = serializers.BooleanField()
    faces = serializers.IntegerField(help_text="Faces given to the person, searchable from the next request")


class TaskProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class TaskSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=GalleryTask.Kind.choices)
    status = serializers.ChoiceField(choices=GalleryTask.Status.choices)
    domain = serializers.SlugField(source="domain.slug", allow_null=True)
    progress = TaskProgressSerializer(source="*")
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True, allow_null=True)
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
