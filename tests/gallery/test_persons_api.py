import io
import os

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from gallery.models import FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import add_photos, face_bytes


def upload(name: str, data: bytes | None = None):
    return SimpleUploadedFile(name, data if data is not None else face_bytes(name), content_type="image/jpeg")


def recognize(persona, image: str):
    return persona.client.post("/api/v1/recognize", {"image": upload(image)}, format="multipart").json()


def create_person(persona, slug="alpha", **data):
    return persona.client.post(f"/api/v1/domains/{slug}/persons", data, format="json")


def test_domains_lists_only_the_keys_domains(alpha, beta, alice):
    add_photos(alpha, "Angelina", "img1.jpg")

    body = alice.client.get("/api/v1/domains").json()

    assert [domain["slug"] for domain in body["results"]] == ["alpha"]
    domain = body["results"][0]
    assert (domain["model"], domain["detector"], domain["alignment"], domain["threshold"]) == ("Dlib", "dlib", "dlib_chip", 0.055)
    assert domain["pending_alignment"] is None
    assert (domain["person_count"], domain["photo_count"], domain["face_count"]) == (1, 1, 1)


def test_person_list_is_paginated_searchable_and_counts(alpha, charlie):
    add_photos(alpha, "Angelina Jolie", "img1.jpg", "img2.jpg")
    for name in ["Bob", "Carol", "Dave"]:
        Person.objects.create(domain=alpha, name=name)

    page = charlie.client.get("/api/v1/domains/alpha/persons?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert [p["name"] for p in page["results"]] == ["Angelina Jolie", "Bob"]
    second = charlie.client.get(page["next"]).json()
    assert [p["name"] for p in second["results"]] == ["Carol", "Dave"]

    found = charlie.client.get("/api/v1/domains/alpha/persons?search=jolie").json()
    assert found["count"] == 1
    item = found["results"][0]
    assert set(item) >= {"id", "name", "external_id", "active", "photo_count", "face_count"}
    assert (item["photo_count"], item["face_count"]) == (2, 2)


def test_create_person_with_known_external_id_returns_that_person(alpha, alice):
    first = create_person(alice, name="Ann", external_id="crm-1")
    again = create_person(alice, name="Ann Smith", external_id="crm-1")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["name"] == "Ann"
    assert Person.objects.filter(domain=alpha).count() == 1


def test_write_routes_need_a_write_key(alpha, charlie):
    person = Person.objects.create(domain=alpha, name="Ann")

    assert create_person(charlie, name="X").status_code == 403
    assert charlie.client.patch(f"/api/v1/domains/alpha/persons/{person.id}", {"name": "Y"}, format="json").status_code == 403
    assert charlie.client.delete(f"/api/v1/domains/alpha/persons/{person.id}").status_code == 403
    response = charlie.client.post(f"/api/v1/domains/alpha/persons/{person.id}/images", {"image": upload("img1.jpg")})
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert charlie.client.get(f"/api/v1/domains/alpha/persons/{person.id}").status_code == 200
    assert Person.objects.get().name == "Ann" and FacePhoto.objects.count() == 0


def test_other_domains_persons_are_404(alpha, beta, alice, bob):
    person = Person.objects.create(domain=alpha, name="Ann")

    assert bob.client.get(f"/api/v1/domains/alpha/persons/{person.id}").status_code == 404
    assert bob.client.get(f"/api/v1/domains/beta/persons/{person.id}").status_code == 404
    assert bob.client.delete(f"/api/v1/domains/beta/persons/{person.id}").status_code == 404
    assert Person.objects.filter(pk=person.pk).exists()


def test_patch_updates_and_external_id_conflict_is_409(alpha, alice):
    ann = create_person(alice, name="Ann", external_id="a").json()
    bea = create_person(alice, name="Bea").json()

    ok = alice.client.patch(f"/api/v1/domains/alpha/persons/{bea['id']}", {"name": "Beatrix", "active": False}, format="json")
    clash = alice.client.patch(f"/api/v1/domains/alpha/persons/{bea['id']}", {"external_id": "a"}, format="json")

    assert ok.status_code == 200 and ok.json()["name"] == "Beatrix" and ok.json()["active"] is False
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "external_id_taken"
    assert Person.objects.get(pk=bea["id"]).external_id is None
    assert Person.objects.get(pk=ann["id"]).external_id == "a"


def test_upload_is_202_with_a_task_and_searchable_once_embedded(alpha, alice, django_capture_on_commit_callbacks):
    person = create_person(alice, name="Angelina").json()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice.client.post(
            f"/api/v1/domains/alpha/persons/{person['id']}/images",
            {"image": [upload("img1.jpg"), upload("img2.jpg")]},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert len(body["tasks"]) == 2 and [p["status"] for p in body["photos"]] == ["pending", "pending"]
    assert recognize(alice, "img4.jpg")["faces"][0]["match"] is None  # not embedded yet

    for callback in callbacks:  # the commit hands the tasks to Celery (eager here)
        callback()

    task = alice.client.get(f"/api/v1/tasks/{body['tasks'][0]}").json()
    assert task["status"] == "done" and task["progress"] == {"done": 1, "total": 1}
    assert recognize(alice, "img4.jpg")["faces"][0]["match"]["person"]["id"] == person["id"]
    assert FaceEmbedding.objects.filter(person_id=person["id"]).count() == 2


def test_upload_with_wait_is_searchable_when_it_answers(alpha, alice):
    person = create_person(alice, name="Angelina").json()

    response = alice.client.post(
        f"/api/v1/domains/alpha/persons/{person['id']}/images?wait=1", {"image": upload("img1.jpg")}, format="multipart"
    )

    assert response.status_code == 201, response.content
    photo = response.json()["photos"][0]
    assert photo["status"] == "embedded" and photo["faces"][0]["model"] == "Dlib"
    assert GalleryTask.objects.get(pk=photo["task"]).status == "done"
    assert recognize(alice, "img4.jpg")["faces"][0]["match"]["person"]["name"] == "Angelina"


def test_same_picture_twice_is_stored_once(alpha, alice):
    person = create_person(alice, name="Angelina").json()
    url = f"/api/v1/domains/alpha/persons/{person['id']}/images?wait=1"

    alice.client.post(url, {"image": upload("img1.jpg")}, format="multipart")
    again = alice.client.post(url, {"image": upload("img1.jpg")}, format="multipart").json()

    assert again["photos"][0]["created"] is False and again["tasks"] == []
    assert FacePhoto.objects.count() == 1 and FaceEmbedding.objects.count() == 1


def test_a_bad_file_among_good_ones_is_refused_and_nothing_is_written(alpha, alice):
    person = create_person(alice, name="Angelina").json()

    response = alice.client.post(
        f"/api/v1/domains/alpha/persons/{person['id']}/images",
        {"image": [upload("img1.jpg"), upload("notes.jpg", b"not an image at all")]},
        format="multipart",
    )

    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_image"
    assert FacePhoto.objects.count() == 0 and GalleryTask.objects.count() == 0


def test_missing_image_is_400(alpha, alice):
    person = create_person(alice, name="Angelina").json()
    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person['id']}/images", {}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "image_required"


def test_photo_without_face_is_no_face(alpha, alice):
    person = create_person(alice, name="Sky").json()
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 160, 200)).save(buffer, format="PNG")

    body = alice.client.post(
        f"/api/v1/domains/alpha/persons/{person['id']}/images?wait=1",
        {"image": upload("sky.png", buffer.getvalue())},
        format="multipart",
    ).json()

    assert body["photos"][0]["status"] == "no_face" and body["photos"][0]["faces"] == []


def test_deleted_photo_is_gone_from_the_next_recognize(alpha, alice, django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg")
    photo = person.photos.get()
    stored = photo.image.path

    with django_capture_on_commit_callbacks(execute=True):
        response = alice.client.delete(f"/api/v1/domains/alpha/persons/{person.id}/images/{photo.id}")

    assert response.status_code == 204
    assert recognize(alice, "img4.jpg")["faces"][0]["candidates"] == []
    assert not FaceEmbedding.objects.exists()
    task = GalleryTask.objects.get(kind="delete_files")
    assert task.status == "done" and task.result == {"deleted": 1}
    assert not os.path.exists(stored)


def test_deleted_person_is_gone_and_its_files_are_cleaned_up(alpha, alice, django_capture_on_commit_callbacks):
    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    paths = [photo.image.path for photo in person.photos.all()]

    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.delete(f"/api/v1/domains/alpha/persons/{person.id}").status_code == 204

    assert recognize(alice, "img4.jpg")["faces"][0]["match"] is None
    assert not any(os.path.exists(path) for path in paths)
    assert alice.client.get(f"/api/v1/domains/alpha/persons/{person.id}").status_code == 404


def test_task_of_another_domain_is_404(alpha, beta, alice, bob):
    task = GalleryTask.objects.create(kind="embed_photo", domain=alpha)
    assert bob.client.get(f"/api/v1/tasks/{task.pk}").status_code == 404
    assert alice.client.get(f"/api/v1/tasks/{task.pk}").json()["status"] == "queued"
    assert alice.client.get("/api/v1/tasks/not-a-uuid").status_code == 404
