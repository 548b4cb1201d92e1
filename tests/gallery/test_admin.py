import re

import pytest
from django.contrib.auth import get_user_model

from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import add_photos


@pytest.fixture
def staff(db, client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_person_list_has_thumbnail_counts_filters_and_search(alpha, staff):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    Person.objects.create(domain=alpha, name="Nobody")

    page = staff.get("/admin/gallery/person/?q=angel").content.decode()
    assert "Angelina" in page and "Nobody" not in page
    assert re.search(r'<img src="/media/faces/[^"]+" style="height:48px', page)
    assert re.search(r'field-photo_count">2<', page) and re.search(r'field-face_count">2<', page)
    without = staff.get("/admin/gallery/person/?faces=no").content.decode()
    assert "Nobody" in without and "Angelina" not in without


def test_person_page_draws_the_face_box_on_each_photo(alpha, staff):
    person = add_photos(alpha, "Angelina", "img1.jpg")
    face = FaceEmbedding.objects.get()
    photo = FacePhoto.objects.get()

    page = staff.get(f"/admin/gallery/person/{person.pk}/change/").content.decode()

    left = round(100 * face.box_x / photo.width, 2)
    assert 'class="face-box"' in page and f"left:{left}%" in page and "border:2px solid" in page


def test_merge_action_moves_everything_into_the_chosen_person(alpha, staff):
    a = add_photos(alpha, "A", "img1.jpg")
    b = add_photos(alpha, "B", "img2.jpg")
    target = add_photos(alpha, "Target", "img4.jpg")
    data = {"action": "merge_into", "_selected_action": [a.pk, b.pk]}

    form = staff.post("/admin/gallery/person/", data)
    assert form.status_code == 200 and b"Merge into" in form.content
    done = staff.post("/admin/gallery/person/", {**data, "apply": "1", "target": target.pk})

    assert done.status_code == 302
    assert list(Person.objects.filter(domain=alpha).values_list("name", flat=True)) == ["Target"]
    assert FacePhoto.objects.filter(person=target).count() == 3 == FaceEmbedding.objects.filter(person=target).count()


def test_deactivate_and_reembed_actions(alpha, staff, django_capture_on_commit_callbacks):
    person = add_photos(alpha, "A", "img1.jpg")
    old_face = FaceEmbedding.objects.get().pk

    staff.post("/admin/gallery/person/", {"action": "deactivate", "_selected_action": [person.pk]})
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/gallery/person/", {"action": "reembed", "_selected_action": [person.pk]})

    assert Person.objects.get().active is False
    assert GalleryTask.objects.get(kind="embed_batch").status == "done"
    assert FaceEmbedding.objects.get().pk != old_face


def test_new_api_key_is_shown_once_and_works(alpha, staff):
    response = staff.post(
        "/admin/gallery/apikey/add/", {"name": "front end", "domains": [alpha.pk], "can_write": "", "active": "on"},
        follow=True,
    )

    secret = re.search(r"The new key is (frk_[\w-]+)", response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert key.key_hash == ApiKey.hash_key(secret) and list(key.domains.all()) == [alpha]
    assert secret not in staff.get(f"/admin/gallery/apikey/{key.pk}/change/").content.decode()


def test_domain_list_counts_and_model_change_starts_a_switch(alpha, staff):
    add_photos(alpha, "A", "img1.jpg", "img2.jpg")

    page = staff.get("/admin/gallery/domain/").content.decode()
    assert re.search(r'field-photo_count">2<', page) and re.search(r'field-face_count">2<', page)

    form = {"slug": "alpha", "name": "Alpha", "model_name": "ArcFace", "detector": "dlib", "active": "on",
            "min_face_size": 40, "min_sharpness": 10, "max_yaw": 60}  # the domain's quality bar
    refused = staff.post(f"/admin/gallery/domain/{alpha.pk}/change/", form).content.decode()
    assert "arcface_weights.h5" in refused and Domain.objects.get().model_name == "Dlib"

    staff.post(f"/admin/gallery/domain/{alpha.pk}/change/", {**form, "model_name": "Dlib", "detector": "opencv"})
    domain = Domain.objects.get()
    assert (domain.detector, domain.pending_detector) == ("dlib", "opencv")  # switched by the task, not the form
    assert GalleryTask.objects.get(kind="reembed_domain").status == "queued"


def test_task_admin_shows_ingest_status(alpha, staff):
    GalleryTask.objects.create(kind="ingest", domain=alpha, status="running", done=120, total=300)

    page = staff.get("/admin/gallery/gallerytask/").content.decode()

    assert "120/300" in page and "running" in page


def test_every_object_has_a_readable_name(alpha, staff):
    person = add_photos(alpha, "Angelina", "img1.jpg")
    face = FaceEmbedding.objects.get()
    task = GalleryTask.objects.create(kind="embed_photo", domain=alpha, total=1)
    key = ApiKey.objects.create(name="front end", prefix="frk_abc", key_hash="0" * 64)

    names = [str(obj) for obj in (alpha, person, face.photo, face, task, key)]
    page = staff.get(f"/admin/gallery/person/{person.pk}/delete/").content.decode()

    assert not [name for name in names if "object (" in name]
    assert f"face of photo {face.photo_id} (Dlib/dlib_chip)" in str(face) and f"embed_photo {str(task.pk)[:8]}" in str(task)
    assert "object (" not in page and str(face) in page
