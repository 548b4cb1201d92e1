import pytest

from gallery import services
from gallery.models import FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import add_photos, face_bytes


def test_merge_moves_photos_and_faces_in_one_step(alpha, beta):
    source = add_photos(alpha, "Angelina J.", "img1.jpg")
    services.person_update(person=source, external_id="crm-7")
    target = add_photos(alpha, "Angelina Jolie", "img2.jpg")

    merged = services.person_merge(source=source, target=target)

    assert merged.pk == target.pk and not Person.objects.filter(pk=source.pk).exists()
    assert FacePhoto.objects.filter(person=target).count() == 2
    assert FaceEmbedding.objects.filter(person=target).count() == 2
    assert Person.objects.get(pk=target.pk).external_id == "crm-7"
    other = Person.objects.create(domain=beta, name="B")
    with pytest.raises(ValueError, match="different domains"):
        services.person_merge(source=other, target=target)


def test_embedding_a_photo_twice_stores_one_face(alpha, django_capture_on_commit_callbacks):
    person = Person.objects.create(domain=alpha, name="Angelina")
    with django_capture_on_commit_callbacks(execute=False):
        [uploaded] = services.photos_upload(person=person, files=[(face_bytes("img1.jpg"), "img1.jpg")])

    assert services.photo_embed(photo_id=uploaded.photo.id) == "embedded"
    assert services.photo_embed(photo_id=uploaded.photo.id) == "skipped"  # a redelivered task
    assert services.gallery_task_run(task_id=uploaded.task.pk).status == "done"
    assert services.gallery_task_run(task_id=uploaded.task.pk) is None  # already done: not run again

    assert FaceEmbedding.objects.filter(photo=uploaded.photo).count() == 1
    assert FacePhoto.objects.get().status == "embedded"


def test_reembed_replaces_each_face(alpha, django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    before = set(FaceEmbedding.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        task = services.photos_embed_enqueue(domain=alpha, photo_ids=list(person.photos.values_list("id", flat=True)),
                                             replace=True)

    task.refresh_from_db()
    assert task.status == "done" and task.result == {"embedded": 2}
    after = set(FaceEmbedding.objects.values_list("id", flat=True))
    assert len(after) == 2 and not after & before


def test_file_cleanup_keeps_a_picture_uploaded_again(alpha, django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg")
    photo = person.photos.get()
    path = photo.image.path
    with django_capture_on_commit_callbacks(execute=False):
        task = services.photo_remove(photo=photo)
    add_photos(alpha, "Angelina again", "img1.jpg")  # same bytes, so the same stored name

    services.gallery_task_run(task_id=task.pk)

    assert GalleryTask.objects.get(pk=task.pk).result == {"deleted": 0}
    assert FacePhoto.objects.get().image.path == path
    assert open(path, "rb").read() == face_bytes("img1.jpg")


def test_missing_file_marks_the_photo_failed(alpha, django_capture_on_commit_callbacks):
    import os

    person = Person.objects.create(domain=alpha, name="Angelina")
    with django_capture_on_commit_callbacks(execute=False):
        [uploaded] = services.photos_upload(person=person, files=[(face_bytes("img1.jpg"), "img1.jpg")])
    os.remove(uploaded.photo.image.path)

    assert services.photo_embed(photo_id=uploaded.photo.id) == "failed"
    photo = FacePhoto.objects.get()
    assert photo.status == "failed" and "cannot read the stored file" in photo.reason
