"""Shadow mode against a gallery pickle that DeepFace 0.0.93's own ``find()`` writes in the test,
imported with import_pkl: recognize answers ``mode: "dual"`` with the old server's comparison, the
comparisons are stored (shadow_report), logged when they disagree and counted in /metrics."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from facerec.logging import JsonFormatter
from gallery import services
from gallery.models import Domain, Person, ShadowComparison
from recognition import shadow
from tests.conftest import FACES
from tests.gallery.test_import_pkl import gallery_folder, legacy_deepface  # noqa: F401 (a fixture)
from tests.ops.test_observability import _sample
from tests.recognition.test_recognize_api import _upload, recognize

PKL_NAME = "ds_model_dlib_detector_dlib_aligned_normalization_base_expand_0.pkl"


@pytest.fixture(scope="module")
def deepface_pkl(legacy_deepface, tmp_path_factory) -> Path:  # noqa: F811
    """The pickle DeepFace.find writes for db/{Angelina: img1, img2; Other: img17}."""
    root = tmp_path_factory.mktemp("legacy")
    db_path = gallery_folder(root / "db")
    script = (
        "from deepface import DeepFace\n"
        f"DeepFace.find(img_path={str(FACES / 'img4.jpg')!r}, db_path={str(db_path)!r}, "
        "model_name='Dlib', detector_backend='dlib', silent=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(legacy_deepface), "DEEPFACE_HOME": str(settings.DEEPFACE_HOME)}
    subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True, capture_output=True)
    return db_path / PKL_NAME


def relabelled(source: Path, target: Path, renames: dict[str, str]) -> Path:
    """The same DeepFace vectors under other folder names: a gallery labelled differently."""
    with open(source, "rb") as handle:  # written by DeepFace in this test: trusted
        rows = pickle.load(handle)
    for row in rows:
        path = Path(row["identity"])
        row["identity"] = str(path.parent.parent / renames.get(path.parent.name, path.parent.name) / path.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(rows))
    return target


@pytest.fixture
def imported(alpha, deepface_pkl) -> Domain:
    """alpha holds the pickle's gallery (import_pkl), on DeepFace's crop as import_pkl requires."""
    Domain.objects.filter(pk=alpha.pk).update(alignment="deepface")
    call_command("import_pkl", str(deepface_pkl), domain="alpha", model="Dlib", stdout=StringIO())
    return Domain.objects.get(pk=alpha.pk)


def shadow_mode(*args: str) -> str:
    out = StringIO()
    call_command("shadow_mode", *args, stdout=out)
    return out.getvalue()


def shadow_report(*args: str) -> str:
    out = StringIO()
    call_command("shadow_report", *args, stdout=out)
    return out.getvalue()


def legacy_recognize(persona, image: str):
    return persona.client.post("/recognize", {"image": _upload(image)}, format="multipart")


def test_legacy_recognize_answers_dual_agrees_and_is_reported_and_counted(imported, alice, deepface_pkl, client):
    out = shadow_mode("--domain", "alpha", "--file", str(deepface_pkl))
    assert "shadow mode on" in out and "3 vectors of 2 persons" in out
    before = client.get("/metrics").content.decode()

    body = legacy_recognize(alice, "img4.jpg").json()

    assert body["mode"] == "dual"
    assert body["recognized_faces"][0]["name"] == "Angelina"
    assert body["comparison"] == {
        "top1_match": True, "pkl_top1": "Angelina", "pgvector_top1": "Angelina", "top5_overlap": 1,
        "top5_overlap_pct": 100.0,
    }
    assert body["recognized_faces"][0]["comparison"] == body["comparison"]
    after = client.get("/metrics").content.decode()
    agreed = _sample(after, "facerec_shadow_comparisons_total", domain="alpha", result="agree")
    assert agreed - _sample(before, "facerec_shadow_comparisons_total", domain="alpha", result="agree") == 1
    assert _sample(after, "facerec_shadow_comparisons_total", domain="alpha", result="disagree") == _sample(
        before, "facerec_shadow_comparisons_total", domain="alpha", result="disagree")
    record = ShadowComparison.objects.get(domain=imported)
    assert (record.top1_match, record.pkl_top1, record.pgvector_top1) == (True, "Angelina", "Angelina")
    report = shadow_report("--domain", "alpha", "--since", "24h")
    assert "1 face(s) compared" in report and "top-1 agreement 100.0 %" in report and "meets the bar" in report


def test_v1_recognize_adds_the_comparison_and_both_lists(imported, alice, deepface_pkl):
    services.domain_shadow_enable(domain=imported, path=deepface_pkl)

    body = recognize(alice, "img4.jpg", top_k=1, exact="true").json()

    assert (body["mode"], body["answer_from"]) == ("dual", "pgvector")
    face = body["faces"][0]
    assert len(face["candidates"]) == 1  # top_k is the client's, though 5 were compared
    comparison = face["comparison"]
    assert comparison["top1_match"] is True and comparison["pkl_top5"] == comparison["pgvector_top5"] == ["Angelina"]
    assert comparison["pkl_distance"] == pytest.approx(comparison["pgvector_distance"], abs=1e-5)
    assert face["exact_comparison"]["top1_match"] is True  # exact=true still reports, beside it
    assert "shadow_search" in body["timings_ms"]


def test_disagreement_is_logged_fails_the_bar_and_is_counted(imported, alice, deepface_pkl, tmp_path, client, caplog):
    other = relabelled(deepface_pkl, tmp_path / "db2" / PKL_NAME, {"Angelina": "Jolie"})
    shadow_mode("--domain", "alpha", "--file", str(other))
    before = client.get("/metrics").content.decode()

    with caplog.at_level("WARNING", logger="facerec.shadow"):
        body = legacy_recognize(alice, "img4.jpg").json()

    assert body["comparison"]["top1_match"] is False
    assert (body["comparison"]["pkl_top1"], body["comparison"]["pgvector_top1"]) == ("Jolie", "Angelina")
    logged = [r for r in caplog.records if getattr(r, "event", None) == "shadow_disagreement"]
    assert len(logged) == 1
    line = JsonFormatter().format(logged[0])  # what LOG_FORMAT=json writes: one line, one object
    assert "\n" not in line and {key: json.loads(line)[key] for key in ("event", "domain", "pkl_top1", "pgvector_top1")} == {
        "event": "shadow_disagreement", "domain": "alpha", "pkl_top1": "Jolie", "pgvector_top1": "Angelina"}
    after = client.get("/metrics").content.decode()
    assert _sample(after, "facerec_shadow_comparisons_total", domain="alpha", result="disagree") - _sample(
        before, "facerec_shadow_comparisons_total", domain="alpha", result="disagree") == 1
    with pytest.raises(CommandError, match=r"top-1 agreement 0.0 % is below the bar 95.0 %"):
        shadow_report("--domain", "alpha")
    # Two agreements out of three pass a 0.6 bar, and the disagreement is listed.
    shadow_mode("--domain", "alpha", "--file", str(deepface_pkl))
    legacy_recognize(alice, "img4.jpg")
    legacy_recognize(alice, "img2.jpg")
    report = shadow_report("--domain", "alpha", "--min-top1", "0.6")
    assert "3 face(s) compared" in report and "top-1 agreement 66.7 %" in report and "Jolie -> Angelina: 1" in report


def test_answer_from_pkl_answers_from_the_pickle(imported, alice, deepface_pkl, tmp_path):
    shadow_mode("--domain", "alpha", "--file", str(deepface_pkl), "--answer-from", "pkl")
    angelina = Person.objects.get(domain=imported, name="Angelina")

    body = recognize(alice, "img4.jpg").json()

    assert body["answer_from"] == "pkl" and body["faces"][0]["comparison"]["answer_from"] == "pkl"
    assert body["faces"][0]["match"]["person"] == {"id": angelina.id, "name": "Angelina", "external_id": None}
    # A name the domain has no person of is answered as the pickle names it, with id null.
    shadow_mode("--domain", "alpha", "--file", str(relabelled(deepface_pkl, tmp_path / "x" / PKL_NAME,
                                                                 {"Angelina": "Jolie"})), "--answer-from", "pkl")
    body = recognize(alice, "img4.jpg").json()
    assert body["faces"][0]["match"]["person"] == {"id": None, "name": "Jolie", "external_id": None}
    assert body["faces"][0]["comparison"]["pgvector_top1"] == "Angelina"
    assert legacy_recognize(alice, "img4.jpg").json()["recognized_faces"][0]["name"] == "Jolie"


def test_off_answers_from_pgvector_without_comparison(imported, alice, deepface_pkl):
    shadow_mode("--domain", "alpha", "--file", str(deepface_pkl), "--answer-from", "pkl")
    assert "shadow mode off" in shadow_mode("--domain", "alpha", "--off")

    legacy = legacy_recognize(alice, "img4.jpg").json()
    v1 = recognize(alice, "img4.jpg").json()

    assert legacy["mode"] == "pgvector" and "comparison" not in legacy
    assert "comparison" not in legacy["recognized_faces"][0]
    assert (v1["mode"], v1["answer_from"]) == ("pgvector", "pgvector") and "comparison" not in v1["faces"][0]
    assert not ShadowComparison.objects.exists()


class RunsCode:
    def __reduce__(self):
        return (os.getpid, ())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle", "not a readable pickle"),
        (pickle.dumps([{"identity": "/db/A/a.jpg", "embedding": [0.1] * 128}, RunsCode()]), "refused to load"),
        (pickle.dumps([{"identity": "/db/A/a.jpg", "embedding": [0.1] * 512}]), "512-d vector, but Dlib has 128"),
        (pickle.dumps([{"identity": "/db/A/a.jpg", "embedding": None}]), "holds no face vectors"),
    ],
)
def test_bad_file_is_refused_and_the_domain_is_unchanged(imported, deepface_pkl, tmp_path, content, message):
    services.domain_shadow_enable(domain=imported, path=deepface_pkl, answer_from="pkl")
    bad = tmp_path / "representations_dlib.pkl"
    bad.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        shadow_mode("--domain", "alpha", "--file", str(bad))

    domain = Domain.objects.get(pk=imported.pk)
    assert (domain.shadow_file, domain.shadow_enabled, domain.shadow_answer_from) == (str(deepface_pkl), True, "pkl")


def test_missing_file_and_a_chip_domain_are_refused(alpha, deepface_pkl, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        shadow_mode("--domain", "alpha", "--file", str(tmp_path / "gone.pkl"))
    with pytest.raises(CommandError, match="dlib_chip alignment"):
        shadow_mode("--domain", "alpha", "--file", str(deepface_pkl))
    assert not Domain.objects.get(pk=alpha.pk).shadow_enabled


def test_admin_domain_form_checks_the_file(imported, deepface_pkl, tmp_path):
    from django.forms.models import model_to_dict

    from gallery.admin.domains import DomainForm

    bad = tmp_path / "representations_dlib.pkl"
    bad.write_bytes(b"junk")
    data = {key: value for key, value in model_to_dict(imported).items() if value is not None}

    refused = DomainForm(data={**data, "shadow_enabled": True, "shadow_file": str(bad)}, instance=imported)
    accepted = DomainForm(data={**data, "shadow_enabled": True, "shadow_file": str(deepface_pkl),
                                "shadow_answer_from": "pkl"}, instance=imported)

    assert not refused.is_valid() and "not a readable pickle" in str(refused.errors["shadow_file"])
    assert accepted.is_valid(), accepted.errors
    accepted.save()
    assert Domain.objects.get(pk=imported.pk).shadow_enabled


def test_a_domains_shadow_file_never_answers_another_domain(imported, alice, beta, bob, deepface_pkl, tmp_path):
    from tests.conftest import add_photos

    Domain.objects.filter(pk=beta.pk).update(alignment="deepface")
    beta.refresh_from_db()
    add_photos(beta, "Angelina", "img1.jpg")
    other = relabelled(deepface_pkl, tmp_path / "beta" / PKL_NAME, {"Angelina": "Jolie"})
    shadow_mode("--domain", "alpha", "--file", str(deepface_pkl), "--answer-from", "pkl")

    assert recognize(bob, "img4.jpg").json()["mode"] == "pgvector"  # beta is not shadowed
    shadow_mode("--domain", "beta", "--file", str(other), "--answer-from", "pkl")

    assert recognize(alice, "img4.jpg").json()["faces"][0]["match"]["person"]["name"] == "Angelina"
    assert recognize(bob, "img4.jpg").json()["faces"][0]["match"]["person"]["name"] == "Jolie"
    assert alice.client.post("/api/v1/recognize", {"image": _upload("img4.jpg"), "domain": "beta"},
                             format="multipart").status_code in (403, 404)
    assert ShadowComparison.objects.filter(domain=imported).count() == 1
    assert ShadowComparison.objects.filter(domain=beta).get().pkl_top1 == "Jolie"


def test_the_file_is_loaded_once_and_again_when_it_changes(deepface_pkl, tmp_path):
    path = relabelled(deepface_pkl, tmp_path / "db" / PKL_NAME, {})
    first = shadow.legacy_gallery(str(path))
    assert shadow.legacy_gallery(str(path)) is first
    assert first.vectors.dtype == np.float32 and first.vectors.shape == (3, 128) and first.names == ("Angelina", "Other")

    relabelled(deepface_pkl, path, {"Angelina": "Jolie"})
    os.utime(path, (1, 1))  # a different mtime, whatever the clock's resolution

    assert shadow.legacy_gallery(str(path)).names == ("Jolie", "Other")


def test_system_check_reports_a_missing_file_and_a_domain_moved_off_deepfaces_crop(imported, deepface_pkl, tmp_path):
    from gallery.checks import shadow_files_usable

    copy = relabelled(deepface_pkl, tmp_path / "c" / PKL_NAME, {})
    services.domain_shadow_enable(domain=imported, path=copy)
    assert shadow_files_usable(databases=["default"]) == []

    copy.unlink()
    assert [w.id for w in shadow_files_usable(databases=["default"])] == ["facerec.W010"]
    Domain.objects.filter(pk=imported.pk).update(alignment="dlib_chip", shadow_file=str(deepface_pkl))
    assert [w.id for w in shadow_files_usable(databases=["default"])] == ["facerec.W011"]


def test_dual_answers_match_the_published_schema(imported, alice, deepface_pkl, tmp_path):
    from django.test import Client

    from tests.ops.test_openapi import _validator

    schema = Client().get("/api/v1/schema", {"format": "json"}).json()
    other = relabelled(deepface_pkl, tmp_path / "s" / PKL_NAME, {"Angelina": "Jolie"})
    services.domain_shadow_enable(domain=imported, path=other, answer_from="pkl")  # a person id null too

    v1 = recognize(alice, "img4.jpg", exact="true").json()
    legacy = legacy_recognize(alice, "img4.jpg").json()

    assert v1["faces"][0]["match"]["person"]["id"] is None and legacy["mode"] == "dual"
    _validator(schema, "RecognizeResponse").validate(v1)
    _validator(schema, "LegacyResponse").validate(legacy)


def test_erasing_a_person_erases_the_comparisons_naming_them_and_the_switch_is_audited(
    imported, alice, deepface_pkl, django_capture_on_commit_callbacks
):
    from gallery.models import AuditEvent

    shadow_mode("--domain", "alpha", "--file", str(deepface_pkl))
    legacy_recognize(alice, "img4.jpg")  # Angelina, both sides
    legacy_recognize(alice, "img17.jpg")  # Other
    assert set(ShadowComparison.objects.values_list("pgvector_top1", flat=True)) == {"Angelina", "Other"}
    angelina = Person.objects.get(domain=imported, name="Angelina")

    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.delete(f"/api/v1/domains/alpha/persons/{angelina.pk}").status_code == 204

    assert list(ShadowComparison.objects.values_list("pgvector_top1", "pkl_top1")) == [("Other", "Other")]
    switched = AuditEvent.objects.get(action="shadow.enable")
    assert (switched.actor_kind, switched.actor_name, switched.domain_slug) == ("command", "shadow_mode", "alpha")
