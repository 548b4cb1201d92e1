"""Every route honours key scopes: a key never sees another domain's data (404, as if it did not
exist), a read-only key cannot write (403), no key is 401; keys are stored hashed; files never land
outside the media root; the admin needs a staff login and CSRF."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from rest_framework.test import APIClient

from gallery import services
from gallery.models import ApiKey, Domain, FaceCluster, FaceEmbedding, FacePhoto, GalleryTask, Person
from gallery.querysets import FaceEmbeddingQuerySet, PersonHit
from tests.conftest import add_photos, face_bytes


def _image(name: str = "img1.jpg", upload_name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(upload_name or name, face_bytes(name), content_type="image/jpeg")


@pytest.fixture
def world(alpha, beta, alice, bob, charlie, django_capture_on_commit_callbacks):
    """Alpha has a person with a photo and a finished task; beta has its own person."""
    angelina = add_photos(alpha, "Angelina", "img1.jpg")
    add_photos(beta, "Beta Person", "img17.jpg")
    with django_capture_on_commit_callbacks(execute=False):
        response = alice.client.post(
            f"/api/v1/domains/alpha/persons/{angelina.id}/images?wait=1", {"image": _image("img2.jpg")}, format="multipart"
        )
    assert response.status_code == 201, response.content
    # Each domain has an archive photo whose two faces are clustered apart, and alpha a batch.
    clusters = {}
    for domain in (alpha, beta):
        services.photo_add(person=None, domain=domain, data=face_bytes("couple.jpg"))
        services.clusters_update(domain=domain)
        clusters[domain.slug] = list(FaceCluster.objects.filter(domain=domain).order_by("id"))
        assert len(clusters[domain.slug]) == 2
    with django_capture_on_commit_callbacks(execute=False):
        batch = alice.client.post("/api/v1/domains/alpha/recognize-batch", {"image": _image()}, format="multipart")
    assert batch.status_code == 202, batch.content
    cluster = clusters["alpha"][0]
    return {
        "person": angelina,
        "photo": angelina.photos.order_by("id").first(),
        "task": response.json()["tasks"][0],
        "cluster": cluster.id,
        "face": cluster.faces.get().id,
        "beta_cluster": clusters["beta"][0].id,
        "batch": batch.json()["task"],
    }


def _routes(world) -> list[tuple[str, str, dict | None]]:
    person, photo, task = world["person"].id, world["photo"].id, world["task"]
    cluster, face, batch = world["cluster"], world["face"], world["batch"]
    return [
        ("get", "/api/v1/domains/alpha/persons", None),
        ("post", "/api/v1/domains/alpha/persons", {"name": "Mallory"}),
        ("get", f"/api/v1/domains/alpha/persons/{person}", None),
        ("patch", f"/api/v1/domains/alpha/persons/{person}", {"name": "Renamed"}),
        ("delete", f"/api/v1/domains/alpha/persons/{person}", None),
        ("get", f"/api/v1/domains/alpha/persons/{person}/images", None),
        ("post", f"/api/v1/domains/alpha/persons/{person}/images", "upload"),
        ("get", f"/api/v1/domains/alpha/images/{photo}", None),
        ("delete", f"/api/v1/domains/alpha/images/{photo}", None),
        ("get", f"/api/v1/domains/alpha/persons/{person}/images/{photo}", None),
        ("delete", f"/api/v1/domains/alpha/persons/{person}/images/{photo}", None),
        ("get", f"/api/v1/tasks/{task}", None),
        ("post", "/api/v1/domains/alpha/images", "upload"),
        ("get", "/api/v1/domains/alpha/clusters", None),
        ("post", f"/api/v1/domains/alpha/clusters/{cluster}/assign", {"name": "Mallory"}),
        ("post", f"/api/v1/domains/alpha/clusters/{cluster}/assign", {"person_id": person}),
        ("delete", f"/api/v1/domains/alpha/clusters/{cluster}/faces/{face}", None),
        ("post", f"/api/v1/domains/alpha/clusters/{cluster}/dismiss", None),
        ("post", "/api/v1/domains/alpha/recognize-batch", "upload"),
        ("get", f"/api/v1/domains/alpha/recognize-batch/{batch}", None),
        ("post", "/api/v1/recognize", {"domain": "alpha", "image": "upload"}),
        ("post", "/api/v1/compare", {"domain": "alpha", "image1": "upload", "image2": "upload"}),
        ("post", "/recognize", {"domain": "alpha", "image": "upload"}),
    ]


def _call(client: APIClient, method: str, url: str, data):
    if data == "upload":
        data = {"image": _image()}
    elif isinstance(data, dict):
        data = {key: (_image() if value == "upload" else value) for key, value in data.items()}
    multipart = isinstance(data, dict) and any(isinstance(v, SimpleUploadedFile) for v in data.values())
    return getattr(client, method)(url, data, format="multipart" if multipart else "json")


def _snapshot():
    return (
        list(Person.objects.order_by("id").values_list("id", "name", "active")),
        list(FacePhoto.objects.order_by("id").values_list("id", "status")),
        list(FaceEmbedding.objects.order_by("id").values_list("id", "person_id", "cluster_id")),
        list(FaceCluster.objects.order_by("id").values_list("id", "dismissed", "curated")),
        GalleryTask.objects.count(),
    )


def _reads(method: str, url: str) -> bool:
    """What a read-only key may do: read, and recognize (one photo, two, or a batch)."""
    return method == "get" or url.endswith(("recognize", "compare", "recognize-batch"))


def test_key_of_another_domain_sees_nothing_of_it(world, bob):
    before = _snapshot()
    for method, url, data in _routes(world):
        response = _call(bob.client, method, url, data)
        assert response.status_code == 404, (method, url, response.status_code, response.content)
        assert response.json()["error"]["code"] in ("not_found", "domain_not_found")
    assert _snapshot() == before


def _own_slug_their_ids(world, beta_person: int) -> list[tuple[str, str, dict | None]]:
    """Every object route with the caller's own slug (beta) and an id of alpha's: the person, the
    photo (both URL forms, and under the caller's own person), the task (its URL has no slug)."""
    person, photo, task = world["person"].id, world["photo"].id, world["task"]
    cluster, face, beta_cluster, batch = world["cluster"], world["face"], world["beta_cluster"], world["batch"]
    return [
        ("post", f"/api/v1/domains/beta/clusters/{cluster}/assign", {"name": "Mallory"}),
        ("post", f"/api/v1/domains/beta/clusters/{beta_cluster}/assign", {"person_id": person}),
        ("delete", f"/api/v1/domains/beta/clusters/{cluster}/faces/{face}", None),
        ("delete", f"/api/v1/domains/beta/clusters/{beta_cluster}/faces/{face}", None),
        ("post", f"/api/v1/domains/beta/clusters/{cluster}/dismiss", None),
        ("get", f"/api/v1/domains/beta/recognize-batch/{batch}", None),
        ("get", f"/api/v1/domains/beta/persons/{person}", None),
        ("patch", f"/api/v1/domains/beta/persons/{person}", {"name": "Renamed"}),
        ("delete", f"/api/v1/domains/beta/persons/{person}", None),
        ("get", f"/api/v1/domains/beta/persons/{person}/images", None),
        ("post", f"/api/v1/domains/beta/persons/{person}/images", "upload"),
        ("get", f"/api/v1/domains/beta/images/{photo}", None),
        ("delete", f"/api/v1/domains/beta/images/{photo}", None),
        ("get", f"/api/v1/domains/beta/persons/{person}/images/{photo}", None),
        ("delete", f"/api/v1/domains/beta/persons/{person}/images/{photo}", None),
        ("get", f"/api/v1/domains/beta/persons/{beta_person}/images/{photo}", None),
        ("delete", f"/api/v1/domains/beta/persons/{beta_person}/images/{photo}", None),
        ("get", f"/api/v1/tasks/{task}", None),
    ]


def test_own_slug_with_another_domains_ids_sees_nothing(world, bob):
    beta_person = Person.objects.get(name="Beta Person")
    before = _snapshot()
    for method, url, data in _own_slug_their_ids(world, beta_person.id):
        response = _call(bob.client, method, url, data)
        assert response.status_code == 404, (method, url, response.status_code, response.content)
        assert response.json()["error"]["code"] == "not_found", (method, url)
    assert _snapshot() == before


def test_a_photo_under_another_person_of_the_same_domain_is_not_found(world, alice):
    other = add_photos(Domain.objects.get(slug="alpha"), "Other", "img17.jpg")
    photo = world["photo"].id
    for method in ("get", "delete"):
        response = getattr(alice.client, method)(f"/api/v1/domains/alpha/persons/{other.id}/images/{photo}")
        assert response.status_code == 404, (method, response.content)
    assert FacePhoto.objects.filter(pk=photo).exists()


def test_domain_list_shows_only_the_keys_domains(world, bob):
    slugs = [item["slug"] for item in bob.client.get("/api/v1/domains").json()["results"]]
    assert slugs == ["beta"]


def test_read_only_key_cannot_write(world, charlie):
    before = _snapshot()
    for method, url, data in _routes(world):
        if _reads(method, url):
            continue
        response = _call(charlie.client, method, url, data)
        assert response.status_code == 403, (method, url, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
    assert _snapshot() == before


def test_read_only_key_can_read_and_recognize(world, charlie):
    for method, url, data in _routes(world):
        if _reads(method, url):
            response = _call(charlie.client, method, url, data)
            expected = 202 if url.endswith("recognize-batch") else 200
            assert response.status_code == expected, (method, url, response.content)


def test_no_key_is_401_everywhere(world, anonymous):
    for method, url, data in _routes(world):
        response = _call(anonymous, method, url, data)
        assert response.status_code == 401, (method, url, response.content)
    assert anonymous.get("/api/v1/domains").status_code == 401


def test_tasks_of_an_inactive_domain_answer_404_like_its_persons(world, alice):
    Domain.objects.filter(slug="alpha").update(active=False)

    for url in (f"/api/v1/tasks/{world['task']}", f"/api/v1/domains/alpha/persons/{world['person'].id}"):
        response = alice.client.get(url)
        assert response.status_code == 404, (url, response.content)


def test_search_never_returns_a_person_of_another_domain(alpha, beta, charlie):
    angelina = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    stranger = add_photos(beta, "Stranger", "img17.jpg")
    with transaction.atomic():
        # Faces of alpha pointing to beta's person, as rows written before the database refused
        # them could (its constraints deferred to build them; rolled back below).
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        assert FaceEmbedding.objects.filter(person=angelina).update(person=stranger) == 2
        answers = [
            _call(charlie.client, "post", "/api/v1/recognize", {"domain": "alpha", "image": "upload"}),
            _call(charlie.client, "post", "/recognize", {"domain": "alpha", "image": "upload"}),
        ]
        transaction.set_rollback(True)

    for response in answers:
        assert response.status_code == 200, response.content
        assert b"Stranger" not in response.content
    assert answers[0].json()["faces"][0]["match"] is None


def test_search_ignores_a_hit_of_another_domains_person(alpha, beta):
    from faces.pipeline import Face
    from recognition.services import search_face

    stranger = Person.objects.create(domain=beta, name="Stranger")
    face = Face(box={"x": 0, "y": 0, "w": 10, "h": 10}, confidence=1.0, embedding=np.ones(128))
    hit = PersonHit(person_id=stranger.pk, distance=0.01, faces_matched=1)

    with mock.patch.object(FaceEmbeddingQuerySet, "nearest_persons", return_value=[hit]):
        assert search_face(face, domain=alpha, threshold=0.07, top_k=5) == []


def test_keys_are_stored_hashed(world, alice):
    stored = ApiKey.objects.get(name="alice")
    assert alice.key not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == ApiKey.hash_key(alice.key)
    assert not ApiKey.objects.filter(key_hash=alice.key).exists()


@pytest.mark.parametrize(
    "upload_name", ["../../../../tmp/evil.jpg", "/etc/passwd", "..\\..\\evil.jpg", "ok.jpg\x00.sh", "évil ñame 😀.jpg"]
)
def test_uploaded_files_stay_inside_the_media_root(alpha, alice, media_root, upload_name, tmp_path):
    person = add_photos(alpha, "Angelina")
    response = alice.client.post(
        f"/api/v1/domains/alpha/persons/{person.id}/images?wait=1", {"image": _image("img1.jpg", upload_name)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    stored = [path.resolve() for path in media_root.rglob("*") if path.is_file()]
    assert stored and all(path.is_relative_to(media_root.resolve()) for path in stored)
    assert not (tmp_path.parent / "evil.jpg").exists()


def test_admin_requires_staff_login(db, client, django_user_model):
    assert client.get("/admin/gallery/person/").status_code == 302
    django_user_model.objects.create_user("plain", password="pw-123456")
    client.login(username="plain", password="pw-123456")
    assert client.get("/admin/gallery/person/").status_code == 302  # not staff: back to login


def test_admin_login_enforces_csrf(db, django_user_model):
    from django.test import Client

    django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/admin/login/", {"username": "root", "password": "pw-123456"})
    assert response.status_code == 403
    assert "_auth_user_id" not in strict.session


def test_ingest_ignores_symlinks_leaving_the_directory(db, tmp_path):
    import io
    import shutil

    from django.core.management import call_command

    from tests.conftest import FACES

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(FACES / "img17.jpg", outside / "secret.jpg")
    root = tmp_path / "photos"
    (root / "Angelina").mkdir(parents=True)
    shutil.copy(FACES / "img1.jpg", root / "Angelina" / "img1.jpg")
    (root / "Angelina" / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "Escaped").symlink_to(outside, target_is_directory=True)

    out = io.StringIO()
    call_command("ingest_images", str(root), "--domain", "demo", "--no-progress", stdout=out)

    assert "1 photo(s) of 1 person(s)" in out.getvalue()
    assert list(Person.objects.values_list("name", flat=True)) == ["Angelina"]
    assert FacePhoto.objects.count() == 1
