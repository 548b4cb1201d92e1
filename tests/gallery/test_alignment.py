"""Alignments and vector spaces in the gallery: what a domain's vectors are made from, that a switch
between alignments re-embeds beside the old vectors and flips, and that search never mixes the two.
Real Dlib model, real PostgreSQL."""

import pickle
from io import StringIO

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from faces.pipeline import detect_faces
from gallery import indexes, services
from gallery.models import Domain, FaceEmbedding
from tests.conftest import FACES, _client, add_photos, face_bytes

pytestmark = pytest.mark.django_db


def _vector(name: str, alignment: str) -> np.ndarray:
    return detect_faces(face_bytes(name), model_name="Dlib", detector="dlib", alignment=alignment)[1][0].embedding


def _stored(person) -> np.ndarray:
    face = FaceEmbedding.objects.get(photo__person=person, photo__source_name="img1.jpg")
    return np.asarray(face.embedding, dtype=np.float32)


@pytest.fixture
def legacy(db):
    """A domain as it was before alignments existed (migration 0004 marks them deepface)."""
    domain = services.domain_create(slug="legacy", alignment="deepface")
    _, secret = services.api_key_create(name="legacy", domains=[domain], can_write=True)
    return domain, _client(secret)


def recognize(client, name: str) -> dict:
    upload = SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")
    return client.post("/api/v1/recognize", {"image": upload}, format="multipart").json()


def test_a_new_dlib_domain_embeds_with_the_chip(alpha):
    angelina = add_photos(alpha, "Angelina", "img1.jpg")

    assert alpha.alignment == "dlib_chip" and alpha.effective_threshold == 0.055
    face = FaceEmbedding.objects.get(person=angelina)
    assert face.alignment == "dlib_chip"
    np.testing.assert_allclose(_stored(angelina), _vector("img1.jpg", "dlib_chip"), atol=1e-6)
    assert np.abs(_stored(angelina) - _vector("img1.jpg", "deepface")).max() > 0.01


def test_a_deepface_domain_answers_as_before(legacy):
    domain, client = legacy
    angelina = add_photos(domain, "Angelina", "img1.jpg", "img2.jpg")

    np.testing.assert_allclose(_stored(angelina), _vector("img1.jpg", "deepface"), atol=1e-6)
    assert set(FaceEmbedding.objects.filter(domain=domain).values_list("alignment", flat=True)) == {"deepface"}
    body = recognize(client, "img4.jpg")
    assert body["threshold"] == 0.07
    assert body["faces"][0]["match"]["person"]["name"] == "Angelina"


def test_switch_to_the_chip_searches_the_old_space_until_the_flip(legacy, django_capture_on_commit_callbacks):
    domain, client = legacy
    angelina = add_photos(domain, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(domain, "Other", "img17.jpg")
    old_ids = set(FaceEmbedding.objects.filter(domain=domain).values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = services.domain_model_switch(domain=domain, model_name="Dlib", detector="dlib", alignment="dlib_chip")
    domain.refresh_from_db()
    assert (domain.space, domain.pending_space) == (("Dlib", "deepface"), ("Dlib", "dlib_chip"))
    assert indexes.index_name(domain.id, "Dlib", "dlib_chip") in indexes.vector_indexes_list()

    # Half-way: one photo has its chip vector beside its crop vector; searches see only the crops.
    first = angelina.photos.order_by("id").first()
    services.photo_embed_with(photo=first, model_name="Dlib", alignment="dlib_chip", detector="dlib")
    assert FaceEmbedding.objects.filter(domain=domain, alignment="dlib_chip").count() == 1
    query = _vector("img1.jpg", "deepface")
    hits = FaceEmbedding.objects.nearest_faces(query, domain_id=domain.id, model_name="Dlib", alignment="deepface", k=10)
    assert {hit.face_id for hit in hits} == old_ids
    body = recognize(client, "img1.jpg")
    assert body["threshold"] == 0.07
    candidate = body["faces"][0]["candidates"][0]
    assert candidate["person"]["name"] == "Angelina" and candidate["faces_matched"] == 2
    assert candidate["nearest_face_distance"] < 1e-4  # the query's crop vector found its own crop vector

    for callback in callbacks:  # the re-embed task runs (eager) and flips at the end
        callback()

    task.refresh_from_db()
    domain.refresh_from_db()
    assert task.status == "done" and task.result["flipped"] is True
    assert (domain.space, domain.pending_space, domain.effective_threshold) == (("Dlib", "dlib_chip"), None, 0.055)
    faces = FaceEmbedding.objects.filter(domain=domain)
    assert set(faces.values_list("alignment", flat=True)) == {"dlib_chip"} and faces.count() == 3
    assert not set(faces.values_list("id", flat=True)) & old_ids
    np.testing.assert_allclose(_stored(angelina), _vector("img1.jpg", "dlib_chip"), atol=1e-6)
    body = recognize(client, "img1.jpg")
    assert body["threshold"] == 0.055
    match = body["faces"][0]["match"]
    candidate = body["faces"][0]["candidates"][0]
    assert match["person"]["name"] == "Angelina" and candidate["nearest_face_distance"] < 1e-4
    assert candidate["faces_matched"] == 2


def _pkl(tmp_path) -> str:
    folder = tmp_path / "db" / "Angelina"
    folder.mkdir(parents=True)
    (folder / "img1.jpg").write_bytes((FACES / "img1.jpg").read_bytes())
    records = [{"identity": str(folder / "img1.jpg"), "hash": "h1", "embedding": _vector("img1.jpg", "deepface").tolist(),
                "target_x": 0, "target_y": 0, "target_w": 10, "target_h": 10}]
    path = tmp_path / "db" / "ds_model_dlib_detector_dlib_aligned_normalization_base_expand_0.pkl"
    path.write_bytes(pickle.dumps(records))
    return str(path)


def test_an_import_pkl_domain_stays_on_deepfaces_crop(tmp_path, alpha):
    path = _pkl(tmp_path)
    call_command("import_pkl", path, "--domain", "migrated", "--model", "Dlib", stdout=StringIO())

    migrated = Domain.objects.get(slug="migrated")
    assert migrated.alignment == "deepface" and migrated.effective_threshold == 0.07
    assert set(FaceEmbedding.objects.filter(domain=migrated).values_list("alignment", flat=True)) == {"deepface"}
    # New photos of the domain land in the PKL's space too.
    later = add_photos(migrated, "Angelina", "img2.jpg")
    assert FaceEmbedding.objects.get(person=later, photo__source_name="img2.jpg").alignment == "deepface"
    # A chip domain refuses DeepFace's vectors rather than mixing them in.
    with pytest.raises(CommandError, match="alignment"):
        call_command("import_pkl", path, "--domain", "alpha", "--model", "Dlib", stdout=StringIO())
