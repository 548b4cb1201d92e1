"""Switching a domain to another model: re-embedded in the background, old vectors answer until
the new set is complete, then one step switches; never mixed-model answers.

Only the Dlib weights exist offline, so the second model is DeepFace's real DeepID network with
weights generated here (randomly initialised, saved where DeepFace loads them). Its vectors say
nothing about identity, but they are a second model's vectors (160-d, another index) and the
same photo still matches itself at distance ~0, which is what the switching mechanism needs.
"""

from __future__ import annotations

import os
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from faces.models_zoo import ModelUnavailable, weights_dir
from gallery import indexes, services
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask
from gallery.services.photos import _iou
from tests.conftest import add_photos, face_bytes


@pytest.fixture(scope="session")
def second_model_home(tmp_path_factory):
    """A DEEPFACE_HOME with the Dlib weights and a generated DeepID weights file."""
    from deepface.models.facial_recognition.tf import DeepID

    home = tmp_path_factory.mktemp("deepface_home")
    target = home / ".deepface" / "weights"
    target.mkdir(parents=True)
    for source in weights_dir().iterdir():
        os.symlink(source, target / source.name)
    weights = target / "deepid_keras_weights.h5"

    def save(model, weight_file):
        # DeepFace's `.h5` weight files have the legacy HDF5 layout. Whether tensorflow.keras is
        # tf_keras or Keras 3 depends on whether `deepface.DeepFace` (which sets
        # TF_USE_LEGACY_KERAS) was imported first; Keras 3's save_weights wants `.weights.h5`.
        if type(model).__module__.startswith("tf_keras"):
            model.save_weights(weight_file, save_format="h5")
            return model
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(weight_file, "w") as handle:
            legacy_h5_format.save_weights_to_hdf5_group(handle, model)
        return model

    # Only to write the file: DeepFace then loads it through its normal, unpatched path.
    with mock.patch.object(DeepID.weight_utils, "download_weights_if_necessary", return_value=str(weights)), \
            mock.patch.object(DeepID.weight_utils, "load_model_weights", side_effect=save):
        DeepID.load_model()
    return home


@pytest.fixture
def deepid(settings, monkeypatch, second_model_home):
    settings.DEEPFACE_HOME = second_model_home
    monkeypatch.setenv("DEEPFACE_HOME", str(second_model_home))
    return "DeepID"


def recognize(persona, name: str) -> dict:
    upload = SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")
    return persona.client.post("/api/v1/recognize", {"image": upload}, format="multipart").json()


def test_switch_answers_from_old_model_until_complete_then_flips(
    alpha, alice, deepid, django_capture_on_commit_callbacks
):
    angelina = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(alpha, "Other", "img17.jpg")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = services.domain_model_switch(domain=alpha, model_name=deepid, detector="dlib")
    alpha.refresh_from_db()
    assert (alpha.model_name, alpha.pending_model) == ("Dlib", "DeepID")
    assert indexes.index_name(alpha.id, "DeepID", "deepface") in indexes.vector_indexes_list()

    # Part of the new set exists: answers still come from Dlib's vectors only.
    first = angelina.photos.order_by("id").first()
    services.photo_embed_with(photo=first, model_name="DeepID", alignment="deepface", detector="dlib")
    assert FaceEmbedding.objects.filter(domain=alpha, model_name="DeepID").count() == 1
    body = recognize(alice, "img4.jpg")
    assert body["model"] == "Dlib" and body["threshold"] == 0.055  # Dlib on its chip
    assert body["faces"][0]["match"]["person"]["name"] == "Angelina"
    assert body["faces"][0]["candidates"][0]["faces_matched"] == 2

    # A photo uploaded during the switch is embedded with both models.
    late = add_photos(alpha, "Late", "img26.jpg").photos.get()
    assert set(late.faces.values_list("model_name", flat=True)) == {"Dlib"}  # photo_add: serving model
    services.photo_embed(photo_id=late.id)  # what the embed task does: the pending model too
    assert set(late.faces.values_list("model_name", flat=True)) == {"Dlib", "DeepID"}

    for callback in callbacks:  # the re-embed task runs (eager) and flips at the end
        callback()

    task.refresh_from_db()
    alpha.refresh_from_db()
    assert task.status == "done" and task.result["flipped"] is True and task.done == 4
    assert (alpha.model_name, alpha.detector, alpha.pending_model) == ("DeepID", "dlib", "")
    assert set(FaceEmbedding.objects.filter(domain=alpha).values_list("model_name", flat=True)) == {"DeepID"}
    assert FaceEmbedding.objects.filter(domain=alpha).count() == 4
    assert set(FacePhoto.objects.filter(domain=alpha).values_list("status", flat=True)) == {"embedded"}
    body = recognize(alice, "img1.jpg")  # a gallery photo matches itself under the new model
    assert body["model"] == "DeepID" and body["threshold"] == 0.015
    match = body["faces"][0]["match"]
    assert match["person"]["name"] == "Angelina" and match["distance"] < 1e-4


def test_switch_to_a_model_without_weights_changes_nothing(alpha):
    add_photos(alpha, "Angelina", "img1.jpg")

    with pytest.raises(ModelUnavailable, match="arcface_weights.h5"):
        services.domain_model_switch(domain=alpha, model_name="ArcFace", detector="dlib")

    alpha.refresh_from_db()
    assert (alpha.model_name, alpha.pending_model) == ("Dlib", "")
    assert not GalleryTask.objects.exists()


def test_detector_change_re_embeds_in_place(alpha, alice, django_capture_on_commit_callbacks):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    before = dict(FaceEmbedding.objects.values_list("photo_id", "id"))

    with django_capture_on_commit_callbacks(execute=True):
        task = services.domain_model_switch(domain=alpha, model_name="Dlib", detector="opencv")

    alpha.refresh_from_db()
    task.refresh_from_db()
    assert task.status == "done" and (alpha.model_name, alpha.detector, alpha.pending_model) == ("Dlib", "opencv", "")
    after = dict(FaceEmbedding.objects.values_list("photo_id", "id"))
    assert set(after) == set(before) and not set(after.values()) & set(before.values())  # new rows, one per photo
    assert recognize(alice, "img4.jpg")["faces"][0]["match"]["person"]["name"] == "Angelina"


def test_redelivered_reembed_resumes_from_its_cursor(alpha, deepid, django_capture_on_commit_callbacks):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    with django_capture_on_commit_callbacks(execute=False):
        task = services.domain_model_switch(domain=alpha, model_name=deepid, detector="dlib")
    first = FacePhoto.objects.order_by("id").first()
    # A worker embedded the first photo, recorded its cursor, and was killed (the task stays running).
    services.photo_embed_with(photo=first, model_name="DeepID", alignment="deepface", detector="dlib")
    GalleryTask.objects.filter(pk=task.pk).update(status="running", result={"cursor": first.id}, done=1, attempts=1)

    services.gallery_task_run(task_id=task.pk)  # the redelivered message
    services.gallery_task_run(task_id=task.pk)  # and once more: a no-op now

    task.refresh_from_db()
    assert task.status == "done" and task.done == 2 and task.attempts == 2
    assert Domain.objects.get(pk=alpha.pk).model_name == "DeepID"
    assert FaceEmbedding.objects.filter(model_name="DeepID").count() == 2


def _couple(domain):
    """couple.jpg as an archive photo, its two faces clustered apart, the largest named Ada."""
    photo = services.photo_add(person=None, domain=domain, data=face_bytes("couple.jpg")).photo
    services.clusters_update(domain=domain)
    faces = list(photo.faces.order_by("position"))
    assert len(faces) == 2 and all(f.cluster_id for f in faces) and faces[0].cluster_id != faces[1].cluster_id
    ada = services.cluster_assign(cluster=faces[0].cluster, name="Ada").person
    return photo, ada, faces[1].cluster_id


def test_switch_keeps_the_persons_and_clusters_of_archive_faces(
    alpha, alice, deepid, django_capture_on_commit_callbacks
):
    photo, ada, other_cluster = _couple(alpha)

    with django_capture_on_commit_callbacks(execute=True):
        task = services.domain_model_switch(domain=alpha, model_name=deepid, detector="dlib")

    task.refresh_from_db()
    alpha.refresh_from_db()
    assert task.status == "done" and alpha.model_name == "DeepID"
    faces = list(photo.faces.order_by("position"))
    assert [f.model_name for f in faces] == ["DeepID", "DeepID"]
    assert (faces[0].person_id, faces[0].cluster_id) == (ada.pk, None)
    assert (faces[1].person_id, faces[1].cluster_id) == (None, other_cluster)  # still unassigned, same cluster
    body = recognize(alice, "couple.jpg")
    assert body["model"] == "DeepID"
    matches = [face["match"] for face in body["faces"]]
    # Ada's face matches itself; the other face is no one's (DeepID's generated weights put any two
    # faces close, so it may match Ada too, but never at ~0: its own vector is not searched).
    itself = [m for m in matches if m is not None and m["distance"] < 1e-4]
    assert len(matches) == 2 and len(itself) == 1 and itself[0]["person"]["id"] == ada.pk


def test_a_face_taken_out_of_its_cluster_during_a_switch_is_out_in_the_new_space(
    alpha, deepid, django_capture_on_commit_callbacks
):
    photo = services.photo_add(person=None, domain=alpha, data=face_bytes("couple.jpg")).photo
    services.clusters_update(domain=alpha)
    first, second = photo.faces.order_by("position")
    # both faces in one cluster, so that taking one out changes only the serving space's row
    FaceEmbedding.objects.filter(pk=second.pk).update(cluster=first.cluster_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.domain_model_switch(domain=alpha, model_name=deepid, detector="dlib")
    services.photo_embed_with(photo=photo, model_name="DeepID", alignment="deepface", detector="dlib")
    assert set(FaceEmbedding.objects.filter(photo=photo, model_name="DeepID").values_list("cluster_id", flat=True)) \
        == {first.cluster_id}
    alone = services.cluster_face_remove(cluster=first.cluster, face_id=second.pk)

    for callback in callbacks:
        callback()

    assert Domain.objects.get(pk=alpha.pk).model_name == "DeepID"
    assert list(photo.faces.order_by("position").values_list("cluster_id", flat=True)) == [first.cluster_id, alone.pk]


def test_detector_change_keeps_archive_assignments_by_box_overlap(alpha, django_capture_on_commit_callbacks):
    """OpenCV finds couple.jpg's faces at other boxes than dlib: each keeps its owner by overlap."""
    photo, ada, other_cluster = _couple(alpha)

    def owners():
        return {("person", f.person_id) if f.person_id else ("cluster", f.cluster_id): f for f in photo.faces.all()}

    before = owners()
    with django_capture_on_commit_callbacks(execute=True):
        services.domain_model_switch(domain=alpha, model_name="Dlib", detector="opencv")

    after = owners()
    assert set(after) == set(before) == {("person", ada.pk), ("cluster", other_cluster)}
    for owner, face in after.items():
        assert face.detection_confidence != before[owner].detection_confidence or face.box != before[owner].box
        assert _iou(face, before[owner]) >= 0.5


def _face(position, x, y, w=100, h=100, pk=None):
    return FaceEmbedding(pk=pk, position=position, box_x=x, box_y=y, box_w=w, box_h=h)


def test_face_counterparts_by_position_then_overlap():
    old = [_face(0, 0, 0, pk=1), _face(1, 300, 0, pk=2), _face(2, 600, 0, pk=3)]
    # the new detection sees the faces in another order, misses the third and finds one elsewhere
    new = [_face(0, 310, 5), _face(1, 5, 10), _face(2, 0, 400)]
    pairs = services.faces_counterparts(old=old, new=new)
    assert {position: face.pk for position, face in pairs.items()} == {0: 2, 1: 1}
    same = [_face(0, 0, 0), _face(1, 300, 0)]
    assert {p: f.pk for p, f in services.faces_counterparts(old=old, new=same).items()} == {0: 1, 1: 2}
    assert services.faces_counterparts(old=old, new=[_face(0, 60, 60)]) == {}  # IoU 0.087: no one's
