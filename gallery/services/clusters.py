"""Clusters of unknown people: grouping a domain's unassigned faces, and naming a group.

The rule (``clusters_update``) is recognize's own "same person" rule, applied to unknown people: a
cluster is treated as a person, and a face joins the cluster whose **centroid** (the mean of its
unit-length face vectors, as recognition.decision scores persons) is within the domain's
threshold, the distance at which recognize would name that face as that person. Candidates are
the clusters of the face's nearest unassigned faces (the domain's HNSW graph of unassigned faces,
gallery.indexes: no all-pairs matrix); a face none of whose candidates' centroids is within the
threshold starts a cluster of its own. Why the centroid and not single links: joining on the
nearest single face chains (A near B near C puts A and C together however far apart they are),
and each face added to a big cluster is one more chance for a stranger to be within reach, the
effect recognize's centroid rule was chosen against; a centroid moves little as a cluster grows.
No constant beyond the threshold is involved (the number of neighbours fetched only bounds which
clusters are candidates).

Faces below the domain's quality bar (``searchable`` false) stay out of clusters. Faces are
clustered once: a face in a cluster is never moved by clustering, so a face an operator removed
from a cluster (it becomes a cluster of its own) does not come back, and a dismissed cluster's
faces stay in it, never listed or suggested again. Two clusters whose centroids are within the
threshold of each other are merged (the same rule between two groups), except one an operator
made. ``manage.py cluster_faces --rebuild`` starts
over (dismissed clusters are kept).

Concurrency: one clustering run per domain at a time (an advisory lock); a face is attached to a
cluster under row locks on the cluster, then the face (the order naming takes too), and only if it
is still unassigned and unclustered, so a face named while the task runs is never put in a cluster,
and a cluster named meanwhile receives no face.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from gallery.models import Domain, FaceCluster, FaceEmbedding, GalleryTask, Person
from gallery.services.audit import audit_record
from gallery.services.persons import person_create
from gallery.services.task_records import gallery_task_create

# Nearest unassigned faces fetched per face; their clusters are the candidates.
NEIGHBOURS = 20
# pg_advisory_xact_lock namespace for "clustering this domain"
_LOCK_NAMESPACE = 1_207_012


class ClusterConflict(Exception):
    """The cluster was named, dismissed or emptied by someone else meanwhile."""


def clusters_update_enqueue(*, domain: Domain) -> GalleryTask | None:
    """Enqueue clustering of the domain's new unassigned faces once this transaction commits; a
    run still queued for the domain will see them too, so none is added then."""
    if GalleryTask.objects.filter(
        domain=domain, kind=GalleryTask.Kind.CLUSTER_FACES, status=GalleryTask.Status.QUEUED
    ).exists():
        return None
    return gallery_task_create(kind=GalleryTask.Kind.CLUSTER_FACES, domain=domain, params={})


def clusters_update_run(*, task: GalleryTask) -> dict:
    """The ``cluster_faces`` task's work."""
    return clusters_update(domain=Domain.objects.get(pk=task.domain_id))


def clusters_update(*, domain: Domain, rebuild: bool = False) -> dict:
    """Put every unclustered, unassigned, searchable face of the domain's serving space into a
    cluster (see the module's rule), then refresh the touched clusters' suggestions."""
    model_name, alignment = domain.space
    with _domain_lock(domain):
        if rebuild:
            FaceCluster.objects.filter(domain=domain, dismissed=False).delete()
        pending = list(
            FaceEmbedding.objects.filter(
                domain=domain, model_name=model_name, alignment=alignment, person__isnull=True,
                cluster__isnull=True, searchable=True,
            ).order_by("id").values_list("id", "embedding")
        )
        centroids = _Centroids(domain)
        touched: set[int] = set()
        # One short transaction per face: an operator naming a cluster waits for one face at most.
        for face_id, vector in pending:
            cluster_id = _face_cluster(domain, face_id, np.asarray(vector, dtype=np.float32), centroids)
            if cluster_id is not None:
                touched.add(cluster_id)
        merged = 0
        for cluster_id in sorted(touched):
            merged += _cluster_merge_neighbours(domain, cluster_id, centroids)
        for cluster in FaceCluster.objects.filter(pk__in=touched):
            with transaction.atomic():
                cluster_suggest(cluster=cluster)
    return {"faces": len(pending), "clusters_touched": len(touched), "merged": merged}


class _Centroids:
    """The centroids of the domain's clusters for one run, kept in memory as (sum of the faces'
    unit vectors, number of faces): loaded once with one GROUP BY, updated as the run adds and
    merges faces (it is the only writer that adds faces to clusters: the domain lock). An operator
    only takes faces out (naming, removing a face) or dismisses, always under the cluster's row
    lock; so before a cluster is written its size is checked under that lock (``fresh``), and a
    cluster whose size changed is re-read: no cluster is updated from a stale centroid."""

    def __init__(self, domain: Domain):
        model_name, alignment = domain.space
        self.scope = {"domain_id": domain.pk, "model_name": model_name, "alignment": alignment}
        self.sums = FaceEmbedding.objects.cluster_sums(**self.scope)

    def distances(self, vector: np.ndarray, cluster_ids) -> dict[int, float]:
        """Cosine distance from ``vector`` to each cluster's centroid (clusters with no face of
        the space have none), as ``cluster_centroid_distances`` computes it."""
        missing = [pk for pk in cluster_ids if pk not in self.sums]
        if missing:
            self.reload(missing)
        v = np.asarray(vector, dtype=np.float64)
        v_norm = float(np.linalg.norm(v))
        out = {}
        for pk in cluster_ids:
            entry = self.sums.get(pk)
            if entry is None or entry[1] == 0:
                continue
            total = entry[0]
            norm = float(np.linalg.norm(total)) * v_norm
            out[pk] = 1.0 - float(total @ v) / norm if norm > 0 else 1.0
        return out

    def centroid(self, cluster_id: int) -> np.ndarray | None:
        entry = self.sums.get(cluster_id)
        if entry is None or entry[1] == 0:
            return None
        return (entry[0] / entry[1]).astype(np.float32)

    def reload(self, cluster_ids) -> None:
        fresh = FaceEmbedding.objects.cluster_sums(**self.scope, cluster_ids=list(cluster_ids))
        for pk in cluster_ids:
            self.sums.pop(pk, None)
        self.sums.update(fresh)

    def fresh(self, cluster_ids) -> bool:
        """Under the clusters' row locks: True when their sizes are still the ones in memory, else
        re-read them and answer False (the caller decides again)."""
        sizes = FaceEmbedding.objects.cluster_sizes(cluster_ids=list(cluster_ids), **self.scope)
        stale = [pk for pk in cluster_ids if sizes.get(pk, 0) != self.sums.get(pk, (None, 0))[1]]
        if stale:
            self.reload(stale)
        return not stale

    def add(self, cluster_id: int, vector: np.ndarray) -> None:
        v = np.asarray(vector, dtype=np.float64)
        unit = v / np.linalg.norm(v)
        total, n = self.sums.get(cluster_id, (np.zeros_like(unit), 0))
        self.sums[cluster_id] = (total + unit, n + 1)

    def merge(self, *, into: int, other: int) -> None:
        a, na = self.sums.get(into, (0.0, 0))
        b, nb = self.sums.pop(other, (0.0, 0))
        self.sums[into] = (a + b, na + nb)


class _Stale(Exception):
    """A cluster's size changed under an operator meanwhile: its centroid was re-read; decide again."""


@contextmanager
def _domain_lock(domain: Domain):
    """One clustering run per domain at a time (a session advisory lock, held across the run's
    many short transactions)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, domain.pk])
        # The run's commits need not wait for the WAL flush: a crash loses at most its last
        # faces' attachments, which the next run redoes (the database stays consistent).
        cursor.execute("SELECT set_config('synchronous_commit', 'off', false)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, domain.pk])


def _face_cluster(domain: Domain, face_id: int, vector: np.ndarray, centroids: _Centroids) -> int | None:
    """Attach one face to the cluster whose centroid is nearest within the threshold, or to a new
    one. None when the face was named or removed meanwhile."""
    model_name, alignment = domain.space
    threshold = domain.effective_threshold
    neighbours = FaceEmbedding.objects.nearest_unassigned(
        vector, domain_id=domain.pk, model_name=model_name, alignment=alignment, k=NEIGHBOURS,
        max_distance=threshold,
    )
    candidates = sorted({hit.cluster_id for hit in neighbours if hit.cluster_id is not None})
    while True:
        distances = centroids.distances(vector, candidates)
        within = sorted((d, cluster_id) for cluster_id, d in distances.items() if d <= threshold)
        try:
            cluster_id = _face_attach(domain, face_id, within[0][1] if within else None, centroids)
        except _Stale:
            continue  # that cluster's centroid was re-read: decide again
        if cluster_id is not None:
            centroids.add(cluster_id, vector)
        return cluster_id


@transaction.atomic
def _face_attach(domain: Domain, face_id: int, cluster_id: int | None, centroids: _Centroids) -> int | None:
    """Lock the cluster (if any), check its centroid is the one decided on, then lock and attach
    the face (or start a cluster for it)."""
    cluster = None
    if cluster_id is not None:
        cluster = FaceCluster.objects.select_for_update().filter(pk=cluster_id, dismissed=False).first()
        if cluster is not None and not centroids.fresh([cluster_id]):
            raise _Stale
    if cluster is None:
        cluster = FaceCluster.objects.create(domain=domain)
    # The UPDATE locks the face's row and checks it again once it has the lock: a face named or
    # clustered meanwhile is left alone (and the new cluster, if any, rolled back with it).
    if not FaceEmbedding.objects.filter(pk=face_id, person__isnull=True, cluster__isnull=True).update(cluster=cluster):
        transaction.set_rollback(True)
        return None
    return cluster.pk


def _cluster_merge_neighbours(domain: Domain, cluster_id: int, centroids: _Centroids) -> int:
    """Merge into this cluster every cluster whose centroid is within the threshold of its own
    centroid, nearest first (the same rule between two groups of faces: both are one person).
    Faces arrive one by one, so a person's first faces can start two clusters before either has
    a centroid the other's faces match; this joins them. Clusters an operator made (``curated``)
    are left as they are. Returns how many clusters were merged into it."""
    model_name, alignment = domain.space
    threshold = domain.effective_threshold
    merged = 0
    while True:
        if not FaceCluster.objects.filter(pk=cluster_id, dismissed=False, curated=False).exists():
            return merged
        centroid = centroids.centroid(cluster_id)
        if centroid is None:
            return merged
        neighbours = FaceEmbedding.objects.nearest_unassigned(
            centroid, domain_id=domain.pk, model_name=model_name, alignment=alignment, k=NEIGHBOURS,
            max_distance=2 * threshold,  # a face of a cluster within t can be up to ~2t from this centroid
        )
        candidates = sorted({hit.cluster_id for hit in neighbours if hit.cluster_id not in (None, cluster_id)})
        distances = centroids.distances(centroid, candidates)
        within = sorted((d, pk) for pk, d in distances.items() if d <= threshold)
        if not within:
            return merged
        try:
            if not _clusters_merge(into=cluster_id, other=within[0][1], centroids=centroids):
                return merged
        except _Stale:
            continue  # a centroid was re-read: decide again
        centroids.merge(into=cluster_id, other=within[0][1])
        merged += 1


@transaction.atomic
def _clusters_merge(*, into: int, other: int, centroids: _Centroids | None = None) -> bool:
    """Move the faces of cluster ``other`` into ``into`` (locks in id order); False when either
    was named, dismissed or curated meanwhile."""
    locked = {
        c.pk: c for c in FaceCluster.objects.select_for_update().filter(
            pk__in=[into, other], dismissed=False, curated=False
        ).order_by("pk")
    }
    if len(locked) != 2:
        return False
    if centroids is not None and not centroids.fresh([into, other]):
        raise _Stale
    FaceEmbedding.objects.filter(cluster_id=other, person__isnull=True).update(cluster_id=into)
    locked[other].delete()
    return True


def cluster_centroid(*, cluster: FaceCluster) -> np.ndarray | None:
    """The mean of the cluster's unit-length face vectors in its domain's serving space."""
    domain = cluster.domain
    return _centroid(cluster.faces.filter(model_name=domain.model_name, alignment=domain.alignment, person__isnull=True))


def _centroid(faces) -> np.ndarray | None:
    """The mean of these faces' unit-length vectors (as search computes a person's centroid)."""
    vectors = [np.asarray(v, dtype=np.float32) for v in faces.values_list("embedding", flat=True)]
    if not vectors:
        return None
    return np.mean([v / np.linalg.norm(v) for v in vectors], axis=0)


def cluster_suggest(*, cluster: FaceCluster) -> Person | None:
    """Set the cluster's suggestion: the active person of its domain whose centroid is nearest to
    the cluster's centroid, when within the threshold (recognize's person-level rule, with the
    cluster's centroid as the face). Dismissed clusters suggest nothing."""
    domain = cluster.domain
    centroid = None if cluster.dismissed else cluster_centroid(cluster=cluster)
    suggestion = None
    if centroid is not None:
        model_name, alignment = domain.space
        hits = FaceEmbedding.objects.nearest_persons(
            centroid, domain_id=domain.pk, model_name=model_name, alignment=alignment,
            threshold=domain.effective_threshold, top_k=5, centroids=True,
        )
        best = min(
            (hit for hit in hits if hit.centroid_distance is not None),
            key=lambda hit: (hit.centroid_distance, hit.person_id), default=None,
        )
        if best is not None and best.centroid_distance <= domain.effective_threshold:
            suggestion = Person.objects.get(pk=best.person_id)
    if cluster.suggestion_id != (suggestion.pk if suggestion else None):
        cluster.suggestion = suggestion
        cluster.save(update_fields=["suggestion", "updated"])
    return suggestion


@dataclass(frozen=True)
class Assignment:
    person: Person
    person_created: bool
    faces: int


@transaction.atomic
def cluster_assign(
    *, cluster: FaceCluster, name: str | None = None, person: Person | None = None
) -> Assignment:
    """Give every face of the cluster to ``person`` (of the cluster's domain), or to a new person
    called ``name``; the cluster goes. The faces are in the persons' search index when this
    commits, so the next recognize names them. Raises ClusterConflict when the cluster was named,
    dismissed or emptied meanwhile (the first of two operators wins; the other changes nothing)."""
    if (name is None) == (person is None):
        raise ValueError("give either a name or a person")
    if person is not None and person.domain_id != cluster.domain_id:
        raise ValueError("a cluster's faces can only go to a person of its domain")
    locked = FaceCluster.objects.select_for_update().filter(pk=cluster.pk, dismissed=False).first()
    if locked is None:
        raise ClusterConflict(f"cluster {cluster.pk} was named or dismissed meanwhile")
    faces = FaceEmbedding.objects.select_for_update().filter(cluster=locked, person__isnull=True)
    face_ids = list(faces.values_list("pk", flat=True))
    if not face_ids:
        raise ClusterConflict(f"cluster {cluster.pk} has no face left")
    created = False
    if person is None:
        person, created = person_create(domain=locked.domain, name=name)
    # Every space's faces of the cluster (a switch's pending space carries them too), counted in
    # the serving space's.
    FaceEmbedding.objects.filter(pk__in=face_ids).update(person=person, cluster=None)
    model_name, alignment = locked.domain.space
    moved = FaceEmbedding.objects.filter(pk__in=face_ids, model_name=model_name, alignment=alignment).count()
    audit_record(action="cluster.assign", obj=("facecluster", locked.pk), domain=locked.domain,
                 details={"person": person.pk, "person_created": created, "faces": moved})
    locked.delete()
    _suggestions_refresh_near(person=person)
    return Assignment(person=person, person_created=created, faces=moved)


def _suggestions_refresh_near(*, person: Person) -> None:
    """Other clusters of the person just named (clustering split them) now suggest it: the
    clusters of the unassigned faces near the person's centroid get their suggestion again."""
    domain = person.domain
    model_name, alignment = domain.space
    centroid = _centroid(person.faces.filter(model_name=model_name, alignment=alignment, searchable=True))
    if centroid is None:
        return
    near = FaceEmbedding.objects.nearest_unassigned(
        centroid, domain_id=domain.pk, model_name=model_name, alignment=alignment, k=NEIGHBOURS,
        max_distance=2 * domain.effective_threshold,
    )
    for cluster in FaceCluster.objects.filter(pk__in={hit.cluster_id for hit in near if hit.cluster_id}):
        cluster_suggest(cluster=cluster)


@transaction.atomic
def cluster_face_remove(*, cluster: FaceCluster, face_id: int) -> FaceCluster:
    """Take one face out of a cluster (the operator says it is someone else): it becomes a cluster
    of its own, which can be named on its own and which clustering never merges back."""
    locked = FaceCluster.objects.select_for_update().filter(pk=cluster.pk).first()
    if locked is None:
        raise ClusterConflict(f"cluster {cluster.pk} was named meanwhile")
    face = FaceEmbedding.objects.select_for_update().filter(pk=face_id, cluster=locked, person__isnull=True).first()
    if face is None:
        raise FaceEmbedding.DoesNotExist(f"face {face_id} is not in cluster {cluster.pk}")
    alone = FaceCluster.objects.create(domain_id=locked.domain_id, curated=True)
    face.cluster = alone
    face.save(update_fields=["cluster"])
    audit_record(action="cluster.face_remove", obj=locked, domain=locked.domain,
                 details={"face": face.pk, "new_cluster": alone.pk})
    cluster_suggest(cluster=alone)
    if locked.faces.exists():
        cluster_suggest(cluster=locked)
    else:
        locked.delete()
    return alone


@transaction.atomic
def cluster_dismiss(*, cluster: FaceCluster) -> FaceCluster:
    """Dismiss a cluster: never listed nor suggested again; its faces stay unassigned in it."""
    locked = FaceCluster.objects.select_for_update().filter(pk=cluster.pk).first()
    if locked is None:
        raise ClusterConflict(f"cluster {cluster.pk} was named meanwhile")
    locked.dismissed, locked.suggestion = True, None
    locked.save(update_fields=["dismissed", "suggestion", "updated"])
    audit_record(action="cluster.dismiss", obj=locked, domain=locked.domain, details={})
    return locked
