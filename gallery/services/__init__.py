"""Gallery services: the one way in for every change to the gallery's data.

Views, Celery tasks, management commands and importers write domains, persons, photos, faces, task
records and API keys only by calling these functions; none writes a row itself. The admin does too,
beyond the fields of a row's own change form, which it saves as Django's admin does. Import them
from here (``from gallery import services`` or ``from gallery.services import person_create``);
each module owns one concern:

- ``domains``: creating domains, their vector indexes;
- ``persons``: creating (idempotent on an external id), changing and merging persons;
- ``photos``: storing a photo and its face (found here, later by a task, or imported), moving photos;
- ``embedding``: detecting and embedding stored photos;
- ``erasure``: every removal (rows and vectors at once, files by a task after commit);
- ``orphans``: files without rows and rows without files, found and repaired;
- ``model_switch``: serving a domain with another model without downtime;
- ``task_records``: the GalleryTask rows of background work and of commands;
- ``tasks``: the registry of background work (kind -> handler, queue) and its runner;
- ``keys``: API keys;
- ``calibration``: a domain's threshold calibrated from its own gallery;
- ``audit``: the audit trail every service above records its change in (``audit_record``), and who
  is acting (bound by the doors: API key, admin user, command, task).
- ``clusters``: grouping unassigned faces into clusters of unknown people, and naming them;
- ``shadow``: shadow mode against a legacy DeepFace gallery file, and its comparison records.
"""

from gallery.services.audit import Actor, acting, actor_current, audit_purge, audit_record, command_actor
from gallery.services.calibration import (
    Calibration,
    CalibrationRefused,
    domain_threshold_set,
    threshold_calibrate,
)
from gallery.services.clusters import (
    Assignment,
    ClusterConflict,
    cluster_assign,
    cluster_dismiss,
    cluster_face_remove,
    cluster_suggest,
    clusters_update,
    clusters_update_enqueue,
)
from gallery.services.domains import domain_create, domain_get_or_create, domain_index_ensure, domain_save
from gallery.services.embedding import photo_embed, photo_embed_with, photos_embed_enqueue
from gallery.services.erasure import (
    domain_remove,
    files_delete,
    files_delete_enqueue,
    person_remove,
    persons_remove,
    persons_remove_empty,
    photo_remove,
    photos_remove,
)
from gallery.services.keys import api_key_create, api_key_issue, api_key_save, api_key_used
from gallery.services.model_switch import domain_model_flip, domain_model_switch, domain_reembed
from gallery.services.orphans import Orphans, orphans_find, orphans_remove
from gallery.services.persons import ExternalIdTaken, person_create, person_get_or_create, person_merge, person_update
from gallery.services.photos import (
    PhotoOutcome,
    UploadedPhoto,
    face_store,
    faces_counterparts,
    faces_inherit,
    faces_store,
    photo_add,
    photo_import,
    photo_save,
    photo_store_pending,
    photos_move,
    photos_upload,
)
from gallery.services.shadow import (
    ShadowFile,
    ShadowFileRefused,
    domain_shadow_disable,
    domain_shadow_enable,
    shadow_comparisons_record,
    shadow_file_check,
)
from gallery.services.task_records import (
    gallery_task_advance,
    gallery_task_create,
    gallery_task_dispatch,
    gallery_task_finish,
    gallery_task_start,
)
from gallery.services.tasks import BackgroundWork, background_work_register, gallery_task_run

__all__ = [
    "BackgroundWork",
    "Actor",
    "acting",
    "actor_current",
    "audit_purge",
    "audit_record",
    "command_actor",
    "api_key_save",
    "domain_save",
    "Assignment",
    "ClusterConflict",
    "cluster_assign",
    "cluster_dismiss",
    "cluster_face_remove",
    "cluster_suggest",
    "clusters_update",
    "clusters_update_enqueue",
    "Calibration",
    "CalibrationRefused",
    "ExternalIdTaken",
    "Orphans",
    "PhotoOutcome",
    "ShadowFile",
    "ShadowFileRefused",
    "UploadedPhoto",
    "api_key_create",
    "background_work_register",
    "api_key_issue",
    "api_key_used",
    "domain_create",
    "domain_get_or_create",
    "domain_index_ensure",
    "domain_model_flip",
    "domain_model_switch",
    "domain_reembed",
    "domain_remove",
    "domain_shadow_disable",
    "domain_shadow_enable",
    "domain_threshold_set",
    "face_store",
    "faces_counterparts",
    "faces_inherit",
    "faces_store",
    "threshold_calibrate",
    "files_delete",
    "files_delete_enqueue",
    "gallery_task_advance",
    "gallery_task_create",
    "gallery_task_dispatch",
    "gallery_task_finish",
    "gallery_task_run",
    "gallery_task_start",
    "orphans_find",
    "orphans_remove",
    "person_create",
    "person_get_or_create",
    "person_merge",
    "person_remove",
    "person_update",
    "persons_remove",
    "persons_remove_empty",
    "photo_add",
    "photo_embed",
    "photo_embed_with",
    "photo_import",
    "photo_remove",
    "photo_save",
    "photo_store_pending",
    "photos_embed_enqueue",
    "photos_move",
    "photos_remove",
    "photos_upload",
    "shadow_comparisons_record",
    "shadow_file_check",
]
