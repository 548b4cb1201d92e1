"""import_pkl with galleries that DeepFace itself writes in the test: a PKL from DeepFace 0.0.93
(the version that wrote pickles, installed on the side from PyPI) and the .npz datastore of the
DeepFace this project runs. And a pickle that tries to run code."""

import os
import pickle
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gallery.models import Domain, FaceEmbedding, FacePhoto, Person
from tests.conftest import FACES
from tests.gallery.conftest import ROOT

LEGACY_DEEPFACE = ["deepface==0.0.93", "mtcnn==0.1.1", "retina-face==0.0.17"]
LEGACY_DIR = ROOT / ".venv" / "deepface-0.0.93"


@pytest.fixture(scope="session")
def legacy_deepface() -> Path:
    """DeepFace 0.0.93 (its find() writes a pickle) beside the project's own, without its deps."""
    if not (LEGACY_DIR / "deepface" / "DeepFace.py").is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(LEGACY_DIR),
             *LEGACY_DEEPFACE],
            check=True,
        )
    return LEGACY_DIR


def gallery_folder(root: Path) -> Path:
    """DeepFace's db_path layout: one folder per identity."""
    for person, files in {"Angelina": ["img1.jpg", "img2.jpg"], "Other": ["img17.jpg"]}.items():
        (root / person).mkdir(parents=True)
        for name in files:
            shutil.copyfile(FACES / name, root / person / name)
    return root


def import_pkl(path, **options) -> str:
    out = StringIO()
    call_command("import_pkl", str(path), stdout=out, **options)
    return out.getvalue()


def test_pkl_written_by_deepface_find_is_migrated_and_searchable(alpha, alice, legacy_deepface, tmp_path, settings):
    db_path = gallery_folder(tmp_path / "db")
    script = (
        "from deepface import DeepFace\n"
        f"DeepFace.find(img_path={str(FACES / 'img4.jpg')!r}, db_path={str(db_path)!r}, "
        "model_name='Dlib', detector_backend='dlib', silent=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(legacy_deepface), "DEEPFACE_HOME": str(settings.DEEPFACE_HOME)}
    subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, capture_output=True)
    pkl = db_path / "ds_model_dlib_detector_dlib_aligned_normalization_base_expand_0.pkl"
    with open(pkl, "rb") as handle:  # written by the test itself: trusted
        written = {Path(r["identity"]).name: np.asarray(r["embedding"]) for r in pickle.load(handle)}
    assert len(written) == 3

    # A domain that receives DeepFace's vectors is on DeepFace's crop (import_pkl creates new ones so).
    Domain.objects.filter(pk=alpha.pk).update(alignment="deepface")
    out = import_pkl(pkl, domain="alpha", model="Dlib")
    again = import_pkl(pkl, domain="alpha", model="Dlib")

    assert "imported 3 face(s)" in out and "3 already present" in again
    assert sorted(Person.objects.filter(domain=alpha).values_list("name", flat=True)) == ["Angelina", "Other"]
    for face in FaceEmbedding.objects.select_related("photo"):
        assert np.allclose(face.embedding, written[Path(face.photo.source_name).name], atol=1e-6)
        assert face.photo.image and os.path.exists(face.photo.image.path)
    upload = (FACES / "img4.jpg").read_bytes()
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = alice.client.post("/api/v1/recognize", {"image": SimpleUploadedFile("q.jpg", upload)}).json()
    assert body["faces"][0]["match"]["person"]["name"] == "Angelina"


def test_npz_datastore_of_current_deepface_is_migrated(db, tmp_path):
    from deepface import DeepFace

    db_path = gallery_folder(tmp_path / "db")
    DeepFace.find(img_path=str(FACES / "img4.jpg"), db_path=str(db_path), model_name="Dlib",
                  detector_backend="dlib", silent=True)
    datastore = db_path / "ds_model_dlib_detector_dlib_aligned_normalization_base_expand_0.npz"

    out = import_pkl(datastore, domain="fromnpz", model="Dlib")

    assert "created domain 'fromnpz' with model Dlib/dlib" in out and "imported 3 face(s)" in out
    domain = Domain.objects.get(slug="fromnpz")
    assert FaceEmbedding.objects.filter(domain=domain, model_name="Dlib").count() == 3
    assert FacePhoto.objects.filter(domain=domain, status="embedded").count() == 3


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickle_that_runs_code_is_refused_and_nothing_is_written(db, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "representations_dlib.pkl"
    evil.write_bytes(pickle.dumps([{"identity": "/x/A/a.jpg", "embedding": [0.0] * 128}, RunsCode(marker)]))

    with pytest.raises(CommandError, match=r"refused to load: the pickle refers to posix\.mkdir"):
        import_pkl(evil, domain="evil", model="Dlib")

    assert not marker.exists()
    assert not Domain.objects.filter(slug="evil").exists() and not FacePhoto.objects.exists()


def test_old_pair_format_and_missing_images(db, tmp_path):
    pkl = tmp_path / "representations_dlib.pkl"
    vectors = np.random.default_rng(1).normal(size=(2, 128)).astype(np.float32)
    pkl.write_bytes(pickle.dumps([["/gone/Ann/1.jpg", vectors[0]], ["/gone/Bob/2.jpg", list(vectors[1])]]))

    out = import_pkl(pkl, domain="pairs", model="Dlib")

    assert "imported 2 face(s)" in out
    assert sorted(Person.objects.values_list("name", flat=True)) == ["Ann", "Bob"]
    assert not FacePhoto.objects.exclude(image="").exists()  # the images are not on this machine


def test_wrong_dimension_or_model_is_refused(db, tmp_path):
    pkl = tmp_path / "representations_arcface.pkl"
    pkl.write_bytes(pickle.dumps([{"identity": "/x/A/a.jpg", "embedding": [0.1] * 512}]))

    with pytest.raises(CommandError, match="written by model 'arcface', not 'Dlib'"):
        import_pkl(pkl, domain="x", model="Dlib")
    renamed = tmp_path / "gallery.pkl"
    pkl.rename(renamed)
    with pytest.raises(CommandError, match="512-d vector, but Dlib has 128 dimensions"):
        import_pkl(renamed, domain="x", model="Dlib")
    assert not Domain.objects.filter(slug="x").exists() and not FacePhoto.objects.exists()
