import os
import time
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from gallery.models import FaceEmbedding
from tests.conftest import add_photos


def run(name: str, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_gallery_stats_counts_per_domain_and_model(alpha, beta):
    add_photos(alpha, "A", "img1.jpg", "img2.jpg")
    add_photos(alpha, "B", "img17.jpg")
    face = FaceEmbedding.objects.first()
    FaceEmbedding.objects.create(photo=face.photo, person=face.person, domain=alpha, model_name="Facenet",
                                 embedding=[0.1] * 128, box_x=0, box_y=0, box_w=1, box_h=1, detection_confidence=1)

    out = run("gallery_stats")

    lines = out.splitlines()
    alpha_line = next(line for line in lines if line.startswith("alpha"))
    assert alpha_line.split()[:5] == ["alpha", "Dlib", "2", "3", "3"] and "embedded 3" in alpha_line
    assert any("Facenet (not serving)" in line and line.split()[-1] == "1" for line in lines)
    assert next(line for line in lines if line.startswith("beta")).split()[:5] == ["beta", "Dlib", "0", "0", "0"]
    assert "2 domain(s): 2 person(s), 3 photo(s), 4 face embedding(s)" in lines
    assert lines[-1] == "orphans: 0 file(s) without a row (+0 recent), 0 photo(s) without a file"


def test_facerec_models_lists_models_detectors_and_domains(alpha):
    out = run("facerec_models")

    assert "model    Dlib" in out and "usable" in out
    assert "missing arcface_weights.h5" in out
    assert "domain   alpha         Dlib/dlib" in out


def _old_file(media_root, name: str) -> Path:
    path = Path(media_root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left behind")
    an_hour_and_a_bit_ago = time.time() - 3700
    os.utime(path, (an_hour_and_a_bit_ago, an_hour_and_a_bit_ago))
    return path


def test_gallery_stats_counts_orphans_and_removes_them(alpha, beta, media_root):
    from gallery import services
    from gallery.models import FacePhoto

    person = add_photos(alpha, "A", "img1.jpg", "img2.jpg")
    add_photos(beta, "B", "img17.jpg")
    services.photo_import(person=person, content_hash="0" * 64, source_name="from a pickle", model_name="Dlib",
                          alignment=alpha.alignment, face=None)  # never had a file: not an orphan
    lost, kept = person.photos.exclude(image="").order_by("id")
    Path(lost.image.path).unlink()  # a row without its file
    orphan = _old_file(media_root, f"faces/{alpha.id}/ab/{'ab' * 32}.jpg")  # a file without a row
    gone_domain = _old_file(media_root, f"faces/{beta.id + 100}/cd/{'cd' * 32}.jpg")  # a removed domain's
    recent = Path(media_root) / f"faces/{alpha.id}/ef/{'ef' * 32}.jpg"  # an upload whose row has not committed yet
    recent.parent.mkdir(parents=True)
    recent.write_bytes(b"in flight")

    out = run("gallery_stats")

    assert "orphans: 2 file(s) without a row (+1 recent), 1 photo(s) without a file" in out
    assert f"photo {lost.pk} (alpha, person {person.pk}) has no file: {lost.image.name}" in out
    assert "orphans: 1 file(s) without a row (+1 recent), 1 photo(s) without a file" in run("gallery_stats", "--domain", "alpha")
    assert orphan.exists() and gone_domain.exists()  # counting removes nothing

    out = run("gallery_stats", "--remove-orphans")

    assert "removed 2 orphan file(s); marked 1 photo(s) without a file failed" in out
    assert not orphan.exists() and not gone_domain.exists() and recent.exists()
    assert Path(kept.image.path).is_file() and FacePhoto.objects.count() == 4  # no row deleted
    lost.refresh_from_db()
    assert (lost.status, lost.reason) == ("failed", f"stored file missing: {lost.image.name}")
    assert lost.faces.count() == 1  # its face still answers searches
    assert "marked 0 photo(s)" in run("gallery_stats", "--remove-orphans")  # already marked: nothing to do
    assert "orphans: 0 file(s) without a row (+1 recent)" in run("gallery_stats", "--grace", "3600")
    assert "orphans: 1 file(s) without a row (+0 recent)" in run("gallery_stats", "--grace", "0")


def test_models_install_saves_dlibs_detector_for_the_workers(settings, tmp_path):
    """`make run` installs the weights and dlib's detector in dlib's format, so that no worker pays
    dlib's ~1 s build of it at start-up (faces.dlib_models.frontal_face_detector)."""
    from faces.dlib_models import detector_path

    settings.DEEPFACE_HOME = tmp_path
    call_command("facerec_models", "--install", verbosity=0)

    assert detector_path().is_file() and detector_path().parent == tmp_path / ".deepface" / "weights"
