from io import StringIO

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
    assert lines[-1] == "2 domain(s): 2 person(s), 3 photo(s), 4 face embedding(s)"


def test_facerec_models_lists_models_detectors_and_domains(alpha):
    out = run("facerec_models")

    assert "model    Dlib" in out and "usable" in out
    assert "missing arcface_weights.h5" in out
    assert "domain   alpha         Dlib/dlib" in out


def test_models_install_saves_dlibs_detector_for_the_workers(settings, tmp_path):
    """`make run` installs the weights and dlib's detector in dlib's format, so that no worker pays
    dlib's ~1 s build of it at start-up (faces.dlib_models.frontal_face_detector)."""
    from faces.dlib_models import detector_path

    settings.DEEPFACE_HOME = tmp_path
    call_command("facerec_models", "--install", verbosity=0)

    assert detector_path().is_file() and detector_path().parent == tmp_path / ".deepface" / "weights"
