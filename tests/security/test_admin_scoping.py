"""The admin cannot link two domains: every form and action, posted with another domain's ids
(as a tampered or stale form would), is refused or ignores them, and nothing changes."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gallery import services
from gallery.models import FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import add_photos, face_bytes


@pytest.fixture
def world(alpha, beta):
    angelina = add_photos(alpha, "Angelina", "img1.jpg")
    other = add_photos(alpha, "Other", "img4.jpg")
    stranger = add_photos(beta, "Stranger", "img17.jpg")
    return SimpleNamespace(
        angelina=angelina, other=other, stranger=stranger,
        photo=angelina.photos.get(), face=angelina.faces.get(),
        beta_photo=stranger.photos.get(), beta_face=stranger.faces.get(),
    )


def _snapshot():
    return (
        list(Person.objects.order_by("id").values_list("id", "domain_id", "name", "active")),
        list(FacePhoto.objects.order_by("id").values_list("id", "domain_id", "person_id", "image", "content_hash", "status")),
        list(FaceEmbedding.objects.order_by("id").values_list("id", "domain_id", "person_id", "photo_id")),
    )


class _FormValues(HTMLParser):
    """The values a browser would submit from a page's change form (``<form id="..._form">``)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._in_form, self._select, self._textarea = False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._in_form = (attrs.get("id") or "").endswith("_form")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select].append(attrs.get("value", ""))
        if not self._in_form or not attrs.get("name"):
            return
        name, kind = attrs["name"], attrs.get("type", "text")
        if tag == "input" and kind not in ("submit", "button", "file", "image"):
            if kind not in ("checkbox", "radio") or "checked" in attrs:
                self.values.setdefault(name, []).append(attrs.get("value", "on"))
        elif tag == "select":
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _form(client, url: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    parser = _FormValues()
    parser.feed(page.content.decode())
    assert parser.values, f"no form on {url}"
    return parser.values


def test_person_change_form_cannot_move_a_person_to_another_domain(world, beta, admin_client):
    url = f"/admin/gallery/person/{world.angelina.pk}/change/"
    data = {**_form(admin_client, url), "domain": [str(beta.pk)], "name": ["Angelina Jolie"]}

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[-2000:]
    person = Person.objects.get(pk=world.angelina.pk)
    assert (person.name, person.domain_id) == ("Angelina Jolie", world.angelina.domain_id)
    assert set(FacePhoto.objects.filter(person=person).values_list("domain_id", flat=True)) == {person.domain_id}


def test_person_page_cannot_delete_another_persons_photo(world, admin_client):
    url = f"/admin/gallery/person/{world.angelina.pk}/change/"
    data = _form(admin_client, url)
    data.update({"photos-0-id": [str(world.beta_photo.pk)], "photos-0-DELETE": ["on"]})
    before = _snapshot()

    response = admin_client.post(url, data)

    assert response.status_code in (200, 302)  # a photo outside the person's inline is ignored
    assert _snapshot() == before


def test_photo_change_form_keeps_person_domain_and_picture(world, beta, admin_client, media_root):
    url = f"/admin/gallery/facephoto/{world.photo.pk}/change/"
    data = {**_form(admin_client, url), "person": [str(world.stranger.pk)], "domain": [str(beta.pk)],
            "source_name": ["renamed.jpg"]}
    data["image"] = SimpleUploadedFile("new.jpg", face_bytes("img2.jpg"), content_type="image/jpeg")
    path = world.photo.image.path

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[-2000:]
    photo = FacePhoto.objects.get(pk=world.photo.pk)
    assert (photo.person_id, photo.domain_id, photo.image.name, photo.content_hash) == (
        world.photo.person_id, world.photo.domain_id, world.photo.image.name, world.photo.content_hash)
    assert photo.source_name == "renamed.jpg"
    assert open(path, "rb").read() == face_bytes("img1.jpg")
    assert not any(face_bytes("img2.jpg") == p.read_bytes() for p in media_root.rglob("*") if p.is_file())


def test_face_change_form_is_refused(world, beta, admin_client):
    url = f"/admin/gallery/faceembedding/{world.face.pk}/change/"
    before = _snapshot()

    response = admin_client.post(url, {
        "photo": world.beta_photo.pk, "person": world.stranger.pk, "domain": beta.pk, "model_name": "Dlib",
        "box_x": 0, "box_y": 0, "box_w": 1, "box_h": 1, "detection_confidence": 1,
    })

    assert response.status_code == 403
    assert admin_client.get("/admin/gallery/faceembedding/add/").status_code == 403
    assert _snapshot() == before
    assert admin_client.get(url).status_code == 200  # still viewable


def test_photo_add_form_takes_the_domain_of_the_person(world, alpha, beta, admin_client,
                                                       django_capture_on_commit_callbacks):
    assert set(_form(admin_client, "/admin/gallery/facephoto/add/")) == {"csrfmiddlewaretoken", "person", "source_name"}
    data = {"person": world.angelina.pk, "domain": beta.pk, "source_name": "",
            "image": SimpleUploadedFile("x.jpg", face_bytes("img2.jpg"), content_type="image/jpeg")}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/gallery/facephoto/add/", data)

    assert response.status_code == 302, response.content.decode()[-2000:]
    photo = FacePhoto.objects.get(content_hash=FacePhoto.hash_bytes(face_bytes("img2.jpg")))
    assert (photo.domain_id, photo.person_id, photo.status) == (alpha.pk, world.angelina.pk, "embedded")
    assert photo.faces.get().domain_id == alpha.pk
    assert GalleryTask.objects.get(kind="embed_photo", domain=alpha).status == "done"


def test_photo_add_form_refuses_a_file_that_is_not_a_photo(world, admin_client):
    before = _snapshot()
    data = {"person": world.angelina.pk, "image": SimpleUploadedFile("x.jpg", b"not an image")}

    response = admin_client.post("/admin/gallery/facephoto/add/", data)

    assert response.status_code == 200 and b"errorlist" in response.content
    assert _snapshot() == before


def test_move_photos_action_offers_only_the_domains_persons(world, admin_client):
    data = {"action": "move_to_person", "_selected_action": [world.photo.pk]}

    form = admin_client.post("/admin/gallery/facephoto/", data).content.decode()

    offered = set(re.findall(r'<option value="(\d+)"', form))
    assert offered == {str(world.angelina.pk), str(world.other.pk)}


def test_move_photos_action_refuses_a_person_of_another_domain(world, admin_client):
    before = _snapshot()
    data = {"action": "move_to_person", "_selected_action": [world.photo.pk], "apply": "1",
            "person": world.stranger.pk}

    response = admin_client.post("/admin/gallery/facephoto/", data)

    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert _snapshot() == before


def test_move_photos_action_moves_photo_and_face_within_the_domain(world, admin_client):
    data = {"action": "move_to_person", "_selected_action": [world.photo.pk], "apply": "1",
            "person": world.other.pk}

    assert admin_client.post("/admin/gallery/facephoto/", data).status_code == 302

    assert FacePhoto.objects.get(pk=world.photo.pk).person_id == world.other.pk
    assert FaceEmbedding.objects.get(pk=world.face.pk).person_id == world.other.pk


def test_move_photos_action_refuses_a_selection_of_several_domains(world, admin_client):
    before = _snapshot()
    data = {"action": "move_to_person", "_selected_action": [world.photo.pk, world.beta_photo.pk],
            "apply": "1", "person": world.other.pk}

    admin_client.post("/admin/gallery/facephoto/", data)

    assert _snapshot() == before


def test_photo_move_service_refuses_a_person_of_another_domain(world):
    before = _snapshot()

    with pytest.raises(ValueError, match="another domain"):
        services.photos_move(photos=FacePhoto.objects.filter(pk=world.photo.pk), person=world.stranger)

    assert _snapshot() == before


def test_merge_action_refuses_a_target_of_another_domain(world, admin_client):
    before = _snapshot()
    data = {"action": "merge_into", "_selected_action": [world.angelina.pk], "apply": "1",
            "target": world.stranger.pk}

    response = admin_client.post("/admin/gallery/person/", data)

    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert _snapshot() == before
