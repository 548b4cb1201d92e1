"""One domain per row chain, enforced by the database: a face's domain and person are its photo's,
a photo's domain is its person's. Whatever door writes (a form, a command, a task, raw ORM), a row
linking two domains is refused; the migration that adds the constraints refuses a database that
already holds such rows, and names them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction

from gallery.models import FaceCluster, FaceEmbedding, FacePhoto, Person
from tests.conftest import add_photos, face_bytes


def _migration():
    return importlib.import_module("gallery.migrations.0003_one_domain_per_chain")


@pytest.fixture
def rows(alpha, beta):
    angelina = add_photos(alpha, "Angelina", "img1.jpg")
    other = add_photos(alpha, "Other", "img2.jpg")
    stranger = add_photos(beta, "Stranger", "img17.jpg")
    return angelina, other, stranger


def _refused(write) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


def test_a_photo_cannot_belong_to_a_person_of_another_domain(rows, alpha, beta):
    angelina, _, stranger = rows
    photo = angelina.photos.get()

    _refused(lambda: FacePhoto.objects.filter(pk=photo.pk).update(person=stranger))
    _refused(lambda: FacePhoto.objects.filter(pk=photo.pk).update(domain=beta))
    _refused(lambda: FacePhoto.objects.create(domain=beta, person=angelina, content_hash="x" * 64))

    assert FacePhoto.objects.values_list("domain_id", "person_id").get(pk=photo.pk) == (alpha.pk, angelina.pk)


def test_a_face_belongs_to_its_photos_person_and_domain(rows, beta):
    angelina, other, stranger = rows
    face = angelina.faces.get()

    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(person=stranger))
    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(domain=beta))
    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(person=other))  # same domain, other photo's person
    _refused(lambda: FaceEmbedding.objects.create(
        photo=face.photo, person=stranger, domain=beta, model_name="Other", embedding=face.embedding,
        box_x=0, box_y=0, box_w=1, box_h=1, detection_confidence=1.0,
    ))

    assert FaceEmbedding.objects.values_list("person_id", "domain_id").get(pk=face.pk) == (angelina.pk, angelina.domain_id)


def test_a_person_with_photos_cannot_change_domain(rows, beta):
    angelina, _, _ = rows

    _refused(lambda: Person.objects.filter(pk=angelina.pk).update(domain=beta))


def test_faces_follow_their_photo_to_another_person_of_the_domain(rows):
    angelina, other, _ = rows
    photo = angelina.photos.get()

    FacePhoto.objects.filter(pk=photo.pk).update(person=other)

    assert list(FaceEmbedding.objects.filter(photo=photo).values_list("person_id", flat=True)) == [other.pk]


def _check() -> None:
    with connection.schema_editor() as editor:
        _migration().check_one_domain_per_chain(django_apps, editor)


def test_migration_check_passes_a_consistent_database(rows):
    _check()  # raises on a violation


def test_migration_check_refuses_cross_domain_rows_and_names_them(rows):
    angelina, other, stranger = rows
    photo, face = angelina.photos.get(), other.faces.get()

    with pytest.raises(_migration().CrossDomainRows) as refused, transaction.atomic():
        # Rows as an older version could leave them (the constraints deferred to build them).
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        FacePhoto.objects.filter(pk=photo.pk).update(person=stranger)
        FaceEmbedding.objects.filter(pk=face.pk).update(person=angelina)
        _check()

    message = str(refused.value)
    assert f"photo {photo.pk} (domain {photo.domain_id}) belongs to person {stranger.pk} of domain {stranger.domain_id}" in message
    assert f"face {face.pk} (person {angelina.pk}, domain {face.domain_id}) does not match its photo {face.photo_id}" in message
    assert "2 row(s)" in message


# --- archives (migration 0008_archives): faces without a person, clusters -----------------------


@pytest.fixture
def archive(alpha):
    """An archive photo of alpha with one unassigned face, in a cluster of alpha."""
    from gallery import services

    photo = services.photo_add(person=None, domain=alpha, data=face_bytes("img3.jpg"), source_name="img3.jpg").photo
    face = photo.faces.get()
    cluster = FaceCluster.objects.create(domain=alpha)
    FaceEmbedding.objects.filter(pk=face.pk).update(cluster=cluster)
    return photo, face, cluster


def test_an_unassigned_face_cannot_point_at_another_domains_photo_or_cluster(rows, archive, beta):
    photo, face, cluster = archive
    _, _, stranger = rows
    beta_cluster = FaceCluster.objects.create(domain=beta)
    beta_photo = stranger.photos.get()

    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(domain=beta))  # its photo and cluster are alpha's
    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(cluster=beta_cluster))
    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(photo=beta_photo))
    _refused(lambda: FaceEmbedding.objects.filter(pk=face.pk).update(person=stranger))
    _refused(lambda: FaceEmbedding.objects.create(
        photo=photo, person=None, domain=beta, model_name="Other", alignment="deepface", embedding=face.embedding,
        box_x=0, box_y=0, box_w=1, box_h=1, detection_confidence=1.0,
    ))
    _refused(lambda: FaceCluster.objects.filter(pk=cluster.pk).update(suggestion=stranger))

    assert FaceEmbedding.objects.values_list("person_id", "domain_id", "cluster_id").get(pk=face.pk) == (
        None, photo.domain_id, cluster.pk
    )


def test_an_archive_face_can_join_a_person_of_its_domain(rows, archive):
    photo, face, _ = archive
    angelina, _, _ = rows

    FaceEmbedding.objects.filter(pk=face.pk).update(person=angelina, cluster=None)

    assert FaceEmbedding.objects.get(pk=face.pk).person_id == angelina.pk
    assert FacePhoto.objects.get(pk=photo.pk).person_id is None  # the photo stays an archive photo
