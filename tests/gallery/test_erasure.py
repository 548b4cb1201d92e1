"""Every delete erases the same things, whichever door it comes through (the API, the admin's
change page, its bulk "delete selected", the person page's photo inline, a domain's removal):
rows, vectors, and the photo files on disk (by a recorded task, once the delete has committed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from gallery import indexes, services
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import add_photos


def _files(person: Person) -> list[Path]:
    paths = [Path(photo.image.path) for photo in person.photos.all()]
    assert paths and all(path.is_file() for path in paths)
    return paths


def _erased(paths: list[Path], n_files: int, *, kept: list[Path]) -> None:
    """The files are gone, by their clean-up task; MEDIA_ROOT holds the kept photos' files and
    nothing else, and no photo row lacks its file (gallery_stats' orphan count is 0)."""
    assert not [path for path in paths if path.exists()]
    task = GalleryTask.objects.get(kind="delete_files")
    assert (task.status, task.result) == ("done", {"deleted": n_files})
    media = Path(settings.MEDIA_ROOT)
    assert sorted(path for path in media.rglob("*") if path.is_file()) == sorted(kept)
    assert services.orphans_find(grace_s=0) == services.Orphans()


@pytest.mark.parametrize("door", ["api", "admin_page", "admin_bulk"])
def test_deleting_a_person_erases_its_rows_vectors_and_files(door, alpha, alice, admin_client,
                                                             django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    kept = add_photos(alpha, "Other", "img17.jpg")
    paths, kept_paths = _files(person), _files(kept)

    with django_capture_on_commit_callbacks(execute=True):
        if door == "api":
            response = alice.client.delete(f"/api/v1/domains/alpha/persons/{person.pk}")
        elif door == "admin_page":
            response = admin_client.post(f"/admin/gallery/person/{person.pk}/delete/", {"post": "yes"})
        else:
            response = admin_client.post("/admin/gallery/person/", {
                "action": "delete_selected", "_selected_action": [person.pk], "post": "yes"})
    assert response.status_code in (204, 302)

    assert list(Person.objects.values_list("name", flat=True)) == ["Other"]
    assert not FacePhoto.objects.filter(person_id=person.pk).exists() and not FaceEmbedding.objects.filter(person_id=person.pk).exists()
    assert not FacePhoto.objects.exclude(person=kept).exists() and not FaceEmbedding.objects.exclude(person=kept).exists()
    _erased(paths, 2, kept=kept_paths)
    assert all(path.is_file() for path in kept_paths)


@pytest.mark.parametrize("door", ["api", "admin_page", "admin_bulk", "person_page"])
def test_deleting_a_photo_erases_its_row_vector_and_file(door, alpha, alice, admin_client,
                                                         django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    photo, kept = person.photos.order_by("id")
    path, kept_path = Path(photo.image.path), Path(kept.image.path)

    with django_capture_on_commit_callbacks(execute=True):
        if door == "api":
            response = alice.client.delete(f"/api/v1/domains/alpha/images/{photo.pk}")
        elif door == "admin_page":
            response = admin_client.post(f"/admin/gallery/facephoto/{photo.pk}/delete/", {"post": "yes"})
        elif door == "admin_bulk":
            response = admin_client.post("/admin/gallery/facephoto/", {
                "action": "delete_selected", "_selected_action": [photo.pk], "post": "yes"})
        else:
            response = admin_client.post(f"/admin/gallery/person/{person.pk}/change/", {
                "name": "Angelina", "external_id": "", "active": "on",
                "photos-TOTAL_FORMS": "2", "photos-INITIAL_FORMS": "2", "photos-MIN_NUM_FORMS": "0",
                "photos-MAX_NUM_FORMS": "1000", "photos-0-id": photo.pk, "photos-0-person": person.pk,
                "photos-0-DELETE": "on", "photos-1-id": kept.pk, "photos-1-person": person.pk,
            })
    assert response.status_code in (204, 302), response.content.decode()[-2000:]

    assert list(FacePhoto.objects.values_list("id", flat=True)) == [kept.pk]
    assert list(FaceEmbedding.objects.values_list("photo_id", flat=True)) == [kept.pk]
    _erased([path], 1, kept=[kept_path])
    assert kept_path.is_file()


@pytest.mark.parametrize("door", ["service", "admin_page", "admin_bulk"])
def test_deleting_a_domain_erases_everything_in_it(door, alpha, beta, admin_client,
                                                   django_capture_on_commit_callbacks):
    persons = [add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg"), add_photos(alpha, "Other", "img17.jpg")]
    kept = add_photos(beta, "Beta Person", "img4.jpg")
    paths, kept_paths = [path for person in persons for path in _files(person)], _files(kept)
    index = indexes.index_name(alpha.pk, *alpha.space)
    assert index in indexes.vector_indexes_list()

    with django_capture_on_commit_callbacks(execute=True):
        if door == "service":
            services.domain_remove(domain=alpha)
        elif door == "admin_page":
            assert admin_client.post(f"/admin/gallery/domain/{alpha.pk}/delete/", {"post": "yes"}).status_code == 302
        else:
            assert admin_client.post("/admin/gallery/domain/", {
                "action": "delete_selected", "_selected_action": [alpha.pk], "post": "yes"}).status_code == 302

    assert list(Domain.objects.values_list("slug", flat=True)) == ["beta"]
    assert set(Person.objects.values_list("domain_id", flat=True)) == {beta.pk}
    assert set(FacePhoto.objects.values_list("domain_id", flat=True)) == {beta.pk}
    assert set(FaceEmbedding.objects.values_list("domain_id", flat=True)) == {beta.pk}
    assert index not in indexes.vector_indexes_list()
    _erased(paths, 3, kept=kept_paths)
    assert all(path.is_file() for path in kept_paths)
