"""Removal. Every delete comes through here, whichever door it starts from (the API, the admin's
change page, its bulk action or photo inline, a merge, a domain's removal, a command), and erases
the same things: rows and vectors in the caller's transaction, so the very next search no longer
sees them, and the photo files by a recorded task once that has committed. Each removal leaves an
audit row naming the erased object's id and counts only (gallery.services.audit): no name, vector,
hash or file path of what was erased."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q, QuerySet

from gallery.models import Domain, FaceCluster, FaceEmbedding, FacePhoto, GalleryTask, Person, ShadowComparison
from gallery.services.audit import audit_record
from gallery.services.task_records import gallery_task_create


def person_remove(*, person: Person) -> GalleryTask | None:
    """Delete a person with its photos and faces; the files go by a task after commit."""
    tasks = persons_remove(persons=Person.objects.filter(pk=person.pk))
    return tasks[0] if tasks else None


@transaction.atomic
def persons_remove(*, persons: QuerySet[Person]) -> list[GalleryTask]:
    # Locked first: a photo being added to one of them waits (its person key is checked at once),
    # so no file is written for a person whose files are being listed for deletion.
    ids = list(persons.values_list("pk", flat=True))
    ids = list(Person.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    erased = Person.objects.filter(pk__in=ids).select_related("domain").annotate(
        n_photos=Count("photos", distinct=True), n_faces=Count("faces", distinct=True)
    )
    for person in erased:
        audit_record(action="person.delete", obj=("person", person.pk), domain=person.domain,
                     details={"erased": True, "photos": person.n_photos, "faces": person.n_faces})
        # Shadow mode's comparison records name persons (the legacy file knows no ids): the ones
        # naming this person go with it, on either side.
        ShadowComparison.objects.filter(
            Q(pgvector_top1=person.name) | Q(pkl_top1=person.name), domain_id=person.domain_id
        ).delete()
    # Archive photos with faces given to these persons: those left without any face are pictures
    # of them alone, and go with them (files included); the others stay with their other faces.
    archive = set(FacePhoto.objects.filter(person__isnull=True, faces__person_id__in=ids).values_list("pk", flat=True))
    # Children first, every face of theirs (also those given to them from archive photos): a
    # photo's and a face's person are nullable, so Django's collector would not order those
    # deletes, and the composite keys of migrations 0003 and 0008 are checked at once.
    FaceEmbedding.objects.filter(person_id__in=ids).delete()
    emptied = FacePhoto.objects.filter(pk__in=archive, faces__isnull=True)
    stored = _stored_files(FacePhoto.objects.filter(Q(person_id__in=ids) | Q(pk__in=emptied.values("pk"))))
    emptied.delete()
    FacePhoto.objects.filter(person_id__in=ids).delete()
    Person.objects.filter(pk__in=ids).delete()
    return _files_delete_enqueue(stored)


def persons_remove_empty(*, person_ids: list[int]) -> list[GalleryTask]:
    """Delete those of these persons that have no photo (an ingest's persons whose every photo failed)."""
    return persons_remove(persons=Person.objects.filter(pk__in=person_ids, photos__isnull=True, faces__isnull=True))


def photo_remove(*, photo: FacePhoto) -> GalleryTask | None:
    tasks = photos_remove(photos=FacePhoto.objects.filter(pk=photo.pk))
    return tasks[0] if tasks else None


@transaction.atomic
def photos_remove(*, photos: QuerySet[FacePhoto]) -> list[GalleryTask]:
    ids = list(photos.values_list("pk", flat=True))
    stored = _stored_files(FacePhoto.objects.filter(pk__in=ids))
    for photo in FacePhoto.objects.filter(pk__in=ids).select_related("domain").annotate(n_faces=Count("faces")):
        audit_record(action="photo.delete", obj=("facephoto", photo.pk), domain=photo.domain,
                     details={"erased": True, "person": photo.person_id, "faces": photo.n_faces})
    clusters = list(FaceCluster.objects.filter(faces__photo_id__in=ids).values_list("pk", flat=True).distinct())
    FacePhoto.objects.filter(pk__in=ids).delete()
    # A cluster whose every face was in these photos has nothing left to name.
    FaceCluster.objects.filter(pk__in=clusters, faces__isnull=True).delete()
    return _files_delete_enqueue(stored)


@transaction.atomic
def domain_remove(*, domain: Domain) -> GalleryTask | None:
    """Delete a domain with everything in it: persons, photos, faces, its vector indexes (dropped
    by gallery.signals), its keys' access to it, and its files (by a task after commit, recorded
    without a domain since the domain is gone). Its task records stay, without a domain: a file
    deletion still queued must run."""
    domain = Domain.objects.select_for_update().get(pk=domain.pk)
    names = [name for names in _stored_files(domain.photos.all()).values() for name in names]
    audit_record(action="domain.delete", obj=domain, domain=domain,
                 details={"persons": domain.persons.count(), "photos": domain.photos.count()})
    # Children first, as in persons_remove; the domain's delete then takes its persons.
    FaceEmbedding.objects.filter(domain=domain).delete()
    FacePhoto.objects.filter(domain=domain).delete()  # archive photos too: their files are in names
    domain.delete()
    return files_delete_enqueue(domain=None, names=names)


def _stored_files(photos: QuerySet[FacePhoto]) -> dict[int, list[str]]:
    """The stored file names of ``photos``, by domain id."""
    by_domain: dict[int, list[str]] = {}
    for domain_id, name in photos.exclude(image="").values_list("domain_id", "image"):
        by_domain.setdefault(domain_id, []).append(name)
    return by_domain


def _files_delete_enqueue(stored: dict[int, list[str]]) -> list[GalleryTask]:
    domains = Domain.objects.in_bulk(list(stored))
    return [files_delete_enqueue(domain=domains[domain_id], names=names) for domain_id, names in stored.items()]


def files_delete_enqueue(*, domain: Domain | None, names: list[str]) -> GalleryTask | None:
    if not names:
        return None
    return gallery_task_create(kind=GalleryTask.Kind.DELETE_FILES, domain=domain, params={"names": names})


def files_delete(*, names: list[str]) -> int:
    """Delete stored photo files no photo refers to any more. A file whose picture was uploaded
    again after the removal (same content, so same name) is in use again and is kept."""
    storage = FacePhoto._meta.get_field("image").storage
    in_use = set(FacePhoto.objects.filter(image__in=names).values_list("image", flat=True))
    deleted = 0
    for name in names:
        if name and name not in in_use and storage.exists(name):
            storage.delete(name)
            deleted += 1
    return deleted


def files_delete_run(*, task: GalleryTask) -> dict:
    """The ``delete_files`` task's work."""
    return {"deleted": files_delete(names=task.params["names"])}
