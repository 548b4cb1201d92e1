"""The gallery: domains (tenants), their persons, face photos and face embeddings, and API keys."""

from __future__ import annotations

import hashlib
import uuid

from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from faces import quality
from gallery.querysets import FaceEmbeddingQuerySet

ALIGNMENT_CHOICES = [
    ("dlib_chip", "dlib 5-point face chip (what dlib's ResNet was trained on)"),
    ("deepface", "DeepFace crop-and-rotate (matches a DeepFace find() gallery)"),
]

SHADOW_ANSWER_CHOICES = [
    ("pgvector", "pgvector (the gallery in the database)"),
    ("pkl", "the legacy DeepFace file (as the old server answered)"),
]


class Domain(models.Model):
    """One gallery of known persons, searched in one vector space: a recognition model fed faces
    aligned one way (``alignment``, faces.alignment). A new domain gets the model's native
    alignment; domains older than alignments, and those imported from a DeepFace PKL, use
    DeepFace's crop so that their vectors (and answers) stay as they were."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    model_name = models.CharField(max_length=40, default="Dlib", help_text="DeepFace recognition model")
    detector = models.CharField(max_length=40, default="dlib", help_text="DeepFace face detector")
    threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Cosine distance at or below which a face matches; empty uses the model's DeepFace default.",
    )
    alignment = models.CharField(
        max_length=20,
        choices=ALIGNMENT_CHOICES,
        blank=True,
        help_text="How faces are cropped for the model; empty: the model's native alignment",
    )
    active = models.BooleanField(default=True)
    # The quality bar (faces.quality): a face below it is never matched by recognize and is stored
    # but not searchable at enrolment. 0 turns a check off; domains that existed before the bar
    # have 0 everywhere (migration 0004), so they answer as they did.
    min_face_size = models.PositiveIntegerField(
        default=quality.MIN_FACE_SIZE, help_text="Pixels, the face box's shorter side; 0: no check"
    )
    min_sharpness = models.FloatField(
        default=quality.MIN_SHARPNESS, help_text="Variance of the Laplacian of the face at 128 px; 0: no check"
    )
    max_yaw = models.FloatField(
        default=quality.MAX_YAW, help_text="Degrees the head may turn from frontal (from landmarks); 0: no check"
    )
    # Switching model: the photos are re-embedded with the pending model in the background while
    # search keeps using model_name; the last step makes the pending model the serving one.
    pending_model = models.CharField(
        max_length=40, blank=True, help_text="Model being re-embedded into; empty when no switch is running"
    )
    pending_detector = models.CharField(max_length=40, blank=True)
    pending_alignment = models.CharField(max_length=20, choices=ALIGNMENT_CHOICES, blank=True)
    # Shadow mode (README, "Cut-over from a pickle gallery"): every recognize also searches the old
    # DeepFace gallery file and records how the two answers agree; ``shadow_answer_from`` says which
    # side answers. Set through services.domain_shadow_enable, which checks the file loads.
    shadow_file = models.CharField(
        max_length=500, blank=True,
        help_text="The legacy DeepFace gallery (representations_*.pkl, ds_model_*.pkl or .npz) on this server",
    )
    shadow_enabled = models.BooleanField(
        default=False, help_text="Also search the legacy file on every recognize and compare the answers"
    )
    shadow_answer_from = models.CharField(
        max_length=10, choices=SHADOW_ANSWER_CHOICES, default="pgvector",
        help_text="Which side answers while shadow mode is on",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs) -> None:
        if not self.alignment:
            from faces.models_zoo import native_alignment

            self.alignment = native_alignment(self.model_name)
        super().save(*args, **kwargs)

    @property
    def space(self) -> tuple[str, str]:
        """The vector space searched: (model, alignment)."""
        return self.model_name, self.alignment

    @property
    def pending_space(self) -> tuple[str, str] | None:
        """The space being re-embedded into while a switch runs, else None."""
        return (self.pending_model, self.pending_alignment) if self.pending_model else None

    @property
    def effective_threshold(self) -> float:
        from faces.models_zoo import default_threshold

        if self.threshold is not None:
            return self.threshold
        return default_threshold(self.model_name, self.alignment or None)

    @property
    def quality_bar(self) -> quality.QualityBar:
        return quality.QualityBar(
            min_face_size=self.min_face_size, min_sharpness=self.min_sharpness, max_yaw=self.max_yaw
        )


class Person(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="persons")
    name = models.CharField(max_length=200)
    external_id = models.CharField(
        max_length=200, null=True, blank=True, help_text="Id in a client system, unique per domain"
    )
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "external_id"],
                condition=Q(external_id__isnull=False),
                name="person_external_id_unique_per_domain",
            ),
            # the key a photo's (person, domain) refers to: a photo's domain is its person's
            # (composite foreign key, migration 0003_one_domain_per_chain)
            models.UniqueConstraint(fields=["id", "domain"], name="person_id_domain_unique"),
        ]
        indexes = [
            # person list and name search within a domain
            models.Index(fields=["domain", "name"], name="person_domain_name"),
        ]

    def __str__(self) -> str:
        return self.name


def photo_upload_to(photo: FacePhoto, filename: str) -> str:
    # The stored name is the content hash (plus the format's extension), never the client's file
    # name, so an upload cannot choose where it lands.
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "img"
    return f"faces/{photo.domain_id}/{photo.content_hash[:2]}/{photo.content_hash}.{extension[:5]}"


class ContentAddressedStorage(FileSystemStorage):
    """Names are content hashes: a file already there has the same bytes, so it is replaced
    rather than renamed (a rerun after a crash between file write and commit reuses the name)."""

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        if self.exists(name):
            self.delete(name)
        return name


class FacePhoto(models.Model):
    """A source photo: of a person, or without one (an archive photo, ``person`` null). Its content
    hash (SHA-256 of the bytes as uploaded) de-duplicates uploads and makes ingest resumable.
    Its domain is its person's, and its faces' domain is its own: the database enforces both with
    composite foreign keys (migrations 0003_one_domain_per_chain, 0008_archives). A person's photo
    keeps one face, its largest, which is the person's; an archive photo keeps every face, each
    unassigned until it is given to a person (a group photo's faces may go to different persons)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        EMBEDDED = "embedded"
        NO_FACE = "no_face"
        FAILED = "failed"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="photos")
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="photos",
        help_text="Empty: an archive photo, whose faces are assigned one by one",
    )
    image = models.ImageField(upload_to=photo_upload_to, storage=ContentAddressedStorage, max_length=300)
    content_hash = models.CharField(max_length=64)
    source_name = models.CharField(max_length=500, blank=True, help_text="Original file name or path")
    # Size after EXIF rotation: the pixels face boxes refer to (the admin draws boxes with it).
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # the same picture is stored once per domain: reruns of an ingest skip it
            models.UniqueConstraint(fields=["domain", "content_hash"], name="photo_hash_unique_per_domain"),
            # the key a face's (photo, person, domain) refers to: a face's person and domain are
            # its photo's (composite foreign key, migration 0003_one_domain_per_chain)
            models.UniqueConstraint(fields=["id", "person", "domain"], name="photo_id_person_domain_unique"),
            # the key a face's (photo, domain) refers to, checked whether or not the face has a
            # person (migration 0008_archives)
            models.UniqueConstraint(fields=["id", "domain"], name="photo_id_domain_unique"),
        ]

    def __str__(self) -> str:
        return self.source_name or self.content_hash[:12]

    @staticmethod
    def hash_bytes(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()


class FaceCluster(models.Model):
    """Unassigned faces of a domain that look like one unknown person (gallery.services.clusters).
    Its faces point at it (``FaceEmbedding.cluster``); a face given to a person leaves its cluster.
    A dismissed cluster is never listed nor suggested again, and its faces are not clustered
    again. ``suggestion`` is the existing person its faces match, if any."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="clusters")
    dismissed = models.BooleanField(default=False)
    # made by an operator (a face taken out of a cluster): clustering never merges it
    curated = models.BooleanField(default=False)
    suggestion = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="A person of the domain whose centroid is within the threshold of the cluster's",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # the key a face's (cluster, domain) refers to (migration 0008_archives)
            models.UniqueConstraint(fields=["id", "domain"], name="cluster_id_domain_unique"),
        ]

    def __str__(self) -> str:
        return f"cluster {self.pk}"


class FaceEmbedding(models.Model):
    """One face of a photo as a vector in one vector space: a model (``model_name``) fed the face
    aligned one way (``alignment``). Vectors of one model from two alignments are as foreign to each
    other as two models' are, so the pair keys everything: one face per photo and space, the btree
    index, each (domain, space)'s partial HNSW index (gallery.indexes) and every search's filter.
    A switch (services.domain_model_switch) writes the new space's rows beside the old ones, and
    searches stay in the domain's serving space until the flip.

    ``person`` null: an unassigned face of an archive photo, never returned by recognize or search
    (it is outside the HNSW index they walk), grouped into a ``cluster`` of the same unknown
    person. A face of a person's photo is that person's (the database refuses another,
    migration 0008_archives)."""

    photo = models.ForeignKey(FacePhoto, on_delete=models.CASCADE, related_name="faces")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="faces")
    cluster = models.ForeignKey(
        FaceCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="faces"
    )
    # 0: the photo's largest face; an archive photo's other faces follow by size
    position = models.PositiveSmallIntegerField(default=0, db_default=0)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="faces")
    model_name = models.CharField(max_length=40)
    alignment = models.CharField(max_length=20, choices=ALIGNMENT_CHOICES)
    embedding = VectorField()
    box_x = models.IntegerField()
    box_y = models.IntegerField()
    box_w = models.IntegerField()
    box_h = models.IntegerField()
    detection_confidence = models.FloatField()
    # faces.quality's record against the domain's bar when stored (null: stored before quality
    # was measured, or imported from a PKL gallery). A face below the bar is kept, not searched.
    quality = models.JSONField(null=True, blank=True)
    # db_default: rows written by COPY (bench, bulk loads) are searchable as before
    searchable = models.BooleanField(default=True, db_default=True, help_text="False: below the domain's quality bar, never returned")
    created = models.DateTimeField(auto_now_add=True)

    objects = FaceEmbeddingQuerySet.as_manager()

    class Meta:
        constraints = [
            # one face per photo, position and space: a redelivered embedding task cannot add a second one
            models.UniqueConstraint(
                fields=["photo", "model_name", "alignment", "position"], name="one_face_per_photo_position_and_space"
            ),
        ]
        indexes = [
            # a cluster's faces (the clusters list, assignment)
            models.Index(fields=["cluster"], name="face_cluster", condition=Q(cluster__isnull=False)),
            # exact (brute-force) search and counts of one domain's vectors of one space
            models.Index(fields=["domain", "model_name", "alignment"], name="face_domain_space"),
        ]

    def __str__(self) -> str:
        return f"face of photo {self.photo_id} ({self.model_name}/{self.alignment})"

    @property
    def box(self) -> dict[str, int]:
        return {"x": self.box_x, "y": self.box_y, "w": self.box_w, "h": self.box_h}


class GalleryTask(models.Model):
    """Background work and its state: what the API's task ids and the admin show. Celery has no
    result backend here; this row is the record, and the Celery task id is this row's id."""

    class Kind(models.TextChoices):
        EMBED_PHOTO = "embed_photo"
        EMBED_BATCH = "embed_batch"
        REEMBED_DOMAIN = "reembed_domain"
        DELETE_FILES = "delete_files"
        INGEST = "ingest"
        IMPORT_PKL = "import_pkl"
        RECOGNIZE_BATCH = "recognize_batch"
        CLUSTER_FACES = "cluster_faces"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # What to work on: photo ids, a model to re-embed with, file names to delete, options.
    params = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # the admin's and the ingest's "latest tasks of this domain"
            models.Index(fields=["domain", "-created"], name="task_domain_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {str(self.pk)[:8]} ({self.status}, {self.done}/{self.total})"


class ApiKey(models.Model):
    """A client's key: stored as a SHA-256 hash, scoped to domains, read-only unless ``can_write``."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, help_text="First characters, to recognise a key")
    key_hash = models.CharField(max_length=64, unique=True)
    domains = models.ManyToManyField(Domain, related_name="api_keys")
    can_write = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
        return hashlib.sha256(key.encode()).hexdigest()


class AuditEvent(models.Model):
    """One change to a gallery: who (actor kind, id and a snapshot of its name, so deleting a key
    or user keeps the row readable), what (action), which object (type, id, domain id and slug;
    no foreign key, so removing a domain keeps its trail), when, from which request, and details.
    Append-only: the database refuses UPDATE and DELETE (migration 0006_audit). Written only by
    ``gallery.services.audit.audit_record``; see that module for what a row never contains."""

    class ActorKind(models.TextChoices):
        API_KEY = "api_key", "API key"
        STAFF_USER = "staff_user", "staff user"
        COMMAND = "command", "command"
        SYSTEM = "system", "system"

    created = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=12, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True, help_text="The key's or user's id; a command's OS user")
    actor_name = models.CharField(max_length=150, blank=True, help_text="The key's name, the username, the command")
    action = models.CharField(max_length=40, help_text="What changed, e.g. person.create, photo.delete")
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    domain_id = models.BigIntegerField(null=True, blank=True)
    domain_slug = models.CharField(max_length=50, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # audit_log and the admin's list, newest first
            models.Index(fields=["-created", "-id"], name="audit_created"),
            # audit_log --domain and the admin's domain filter
            models.Index(fields=["domain_slug", "-created"], name="audit_domain_created"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor_name or self.actor_kind} {self.action} {self.object_type} {self.object_id}"


class ShadowComparison(models.Model):
    """One face of a recognize in shadow mode: the legacy file's answer next to pgvector's, by
    person name (the pickle knows no person ids). Names and distances only, no vectors or images."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="shadow_comparisons")
    created = models.DateTimeField(auto_now_add=True)
    request_id = models.CharField(max_length=128, blank=True)
    answer_from = models.CharField(max_length=10, choices=SHADOW_ANSWER_CHOICES)
    top1_match = models.BooleanField()
    pkl_top1 = models.CharField(max_length=200, null=True, blank=True)
    pgvector_top1 = models.CharField(max_length=200, null=True, blank=True)
    pkl_distance = models.FloatField(null=True, blank=True)
    pgvector_distance = models.FloatField(null=True, blank=True)
    top5_overlap = models.PositiveSmallIntegerField()
    top5_overlap_pct = models.FloatField()

    class Meta:
        ordering = ["-created"]
        indexes = [
            # shadow_report: one domain's comparisons since a time
            models.Index(fields=["domain", "created"], name="shadow_domain_created"),
        ]

    def __str__(self) -> str:
        return f"{self.domain_id}: pkl {self.pkl_top1} / pgvector {self.pgvector_top1}"
