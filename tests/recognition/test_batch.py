"""Batch recognition: recognize_images writes what POST /api/v1/recognize answers, resumes a report
cut by a kill, gives bad files a row each; POST .../recognize-batch does the same in a task, keeps
each domain's batches in that domain and deletes the uploaded photos once done."""

from __future__ import annotations

import csv
import io
import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from gallery.models import GalleryTask
from tests.conftest import FACES, add_photos, face_bytes
from tests.gallery.test_worker import wait_for, worker  # noqa: F401 - the real-worker fixture

ARCHIVE = ["img4.jpg", "couple.jpg", "events/img26.jpg", "events/2019/img8.jpg"]


def faceless_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 160, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def gallery(alpha):
    """Two known persons; img8's person (id03) is not in the gallery."""
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(alpha, "Jennifer", "img27.jpg", "img28.jpg")
    return alpha


@pytest.fixture
def archive(tmp_path) -> Path:
    root = tmp_path / "archive"
    for relative in ARCHIVE:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FACES / Path(relative).name, root / relative)
    (root / "events" / "notes.txt").write_text("not a photo: not in the report")
    return root


def recognize_images(root: Path, output: Path, **options) -> str:
    out = StringIO()
    call_command("recognize_images", str(root), domain="alpha", output=str(output), no_progress=True,
                 stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def read_report(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return list(csv.DictReader(path.open(newline="")))


def api_faces(persona, data: bytes, name: str) -> list[dict]:
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    response = persona.client.post("/api/v1/recognize", {"image": upload}, format="multipart")
    assert response.status_code == 200, response.content
    return response.json()["faces"]


def assert_rows_are_recognize_answers(rows: list[dict], persona, read) -> None:
    """Each file's rows are, face by face, the API's answer for that file: box, person, distance."""
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    for file, file_rows in by_file.items():
        faces = api_faces(persona, read(file), Path(file).name)
        assert len(faces) == len(file_rows) >= 1, file
        for number, (row, face) in enumerate(zip(file_rows, faces, strict=True), 1):
            nearest = face["match"] or face["candidates"][0]
            assert row["face"] == number and row["box"] == face["box"], file
            assert row["person"] == (face["match"]["person"] if face["match"] else None), file
            assert row["distance"] == pytest.approx(nearest["distance"], abs=1e-6), file
            assert row["unmatched_reason"] == face["unmatched_reason"] and row["quality"] == face["quality"]
            assert row["error"] is None


# --- recognize_images ----------------------------------------------------------------------------


def test_report_rows_are_what_recognize_answers(gallery, alice, archive, tmp_path):
    output = tmp_path / "report.jsonl"

    out = recognize_images(archive, output)

    rows = read_report(output)
    assert [row["file"] for row in rows] == ["couple.jpg", "couple.jpg", "events/2019/img8.jpg",
                                             "events/img26.jpg", "img4.jpg"]
    names = {row["file"]: row["person"] and row["person"]["name"] for row in rows}
    assert names["img4.jpg"] == "Angelina" and names["events/img26.jpg"] == "Jennifer"
    assert names["events/2019/img8.jpg"] is None  # a stranger: unknown, with its nearest distance
    assert rows[2]["unmatched_reason"] == "no_match" and rows[2]["distance"] > gallery.effective_threshold
    assert_rows_are_recognize_answers(rows, alice, lambda file: (archive / file).read_bytes())
    assert "4 photo(s): 4 recognized now, 0 already in the report; 5 face(s), 3 known, 2 unknown" in out


def test_csv_report_has_the_same_rows_flat(gallery, archive, tmp_path):
    recognize_images(archive, tmp_path / "report.jsonl")
    recognize_images(archive, tmp_path / "report.csv")

    nested, flat = read_report(tmp_path / "report.jsonl"), read_report(tmp_path / "report.csv")
    assert len(flat) == len(nested) == 5
    for row, line in zip(nested, flat, strict=True):
        assert line["file"] == row["file"] and int(line["face"]) == row["face"]
        assert [int(line[f"box_{k}"]) for k in "xywh"] == [row["box"][k] for k in "xywh"]
        assert line["person_name"] == (row["person"]["name"] if row["person"] else "")
        assert float(line["distance"]) == row["distance"] and json.loads(line["quality"]) == row["quality"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_rerun_after_a_cut_report_finishes_it_without_duplicates(gallery, archive, tmp_path, suffix):
    output = tmp_path / f"report{suffix}"
    recognize_images(archive, output)
    complete = output.read_bytes()
    lines = complete.splitlines(keepends=True)
    # Killed while writing the 4th line: 3 whole lines, then half of one.
    output.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])

    out = recognize_images(archive, output)

    assert sorted(output.read_bytes().splitlines()) == sorted(complete.splitlines())
    # The cut line's photo is redone, and so is the photo of the line before it (it may be the cut one).
    whole = read_report(output)[: 3 - (suffix == ".csv")]
    kept = {row["file"] for row in whole} - {whole[-1]["file"]}
    assert f"{len(kept)} already in the report" in out, out
    again = recognize_images(archive, output)
    assert "0 recognized now, 4 already in the report" in again
    assert output.read_bytes().count(b"\n") == complete.count(b"\n")


def test_files_without_a_face_or_unreadable_get_one_row_each_and_the_run_goes_on(gallery, archive, tmp_path,
                                                                               monkeypatch):
    (archive / "broken.jpg").write_bytes(b"not a jpeg")
    (archive / "empty.png").write_bytes(b"")
    (archive / "sky.jpg").write_bytes(faceless_jpeg())
    (archive / "locked.jpg").write_bytes(face_bytes("img5.jpg"))
    read_bytes = Path.read_bytes

    def refuse_locked(path):
        if path.name == "locked.jpg":
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse_locked)  # root reads any file: the OS error, simulated
    output = tmp_path / "report.jsonl"

    out = recognize_images(archive, output)

    errors = {row["file"]: row["error"]["code"] for row in read_report(output) if row["error"]}
    assert errors == {"broken.jpg": "unsupported_image", "empty.png": "empty_image", "sky.jpg": "no_face",
                      "locked.jpg": "unreadable"}
    assert all(row["face"] is None and row["box"] is None for row in read_report(output) if row["error"])
    assert "8 photo(s): 8 recognized now" in out and "4 photo(s) without a face or unreadable" in out


def test_bad_arguments_are_refused_and_a_foreign_report_is_left_alone(gallery, archive, tmp_path):
    with pytest.raises(CommandError, match="csv or .jsonl"):
        recognize_images(archive, tmp_path / "report.txt")
    with pytest.raises(CommandError, match="no active domain"):
        call_command("recognize_images", str(archive), domain="nope", output=str(tmp_path / "r.csv"))
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("name,phone\nbob,555\n")
    with pytest.raises(CommandError, match="not a report of this command"):
        recognize_images(archive, foreign)
    assert foreign.read_text() == "name,phone\nbob,555\n"


@pytest.mark.django_db(transaction=True)  # the workers' own connections see the gallery
def test_two_workers_write_the_same_rows(gallery, archive, tmp_path):
    recognize_images(archive, tmp_path / "one.jsonl")

    out = recognize_images(archive, tmp_path / "two.jsonl", workers=2, batch_size=1)

    def key(row):
        return row["file"], row["face"]

    assert sorted(read_report(tmp_path / "two.jsonl"), key=key) == sorted(read_report(tmp_path / "one.jsonl"), key=key)
    assert "4 recognized now" in out


# --- POST /api/v1/domains/{slug}/recognize-batch ----------------------------------------------------


def batch_files() -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile("img4.jpg", face_bytes("img4.jpg"), content_type="image/jpeg"),
        SimpleUploadedFile("couple.jpg", face_bytes("couple.jpg"), content_type="image/jpeg"),
        SimpleUploadedFile("notes.jpg", b"minutes of the meeting", content_type="image/jpeg"),
    ]


def stored_batch_files(media_root: Path) -> list[Path]:
    return [path for path in (media_root / "batches").rglob("*") if path.is_file()]


def test_batch_task_answers_each_face_as_recognize_does_and_deletes_the_photos(
    gallery, alice, bob, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.client.post("/api/v1/domains/alpha/recognize-batch", {"image": batch_files()},
                                     format="multipart")

    assert response.status_code == 202, response.content
    accepted = response.json()
    assert accepted["files"] == 3 and accepted["results"].endswith(f"/recognize-batch/{accepted['task']}")
    results = alice.client.get(accepted["results"]).json()
    assert (results["status"], results["done"], results["total"], results["count"]) == ("done", 3, 3, 4)
    rows = results["results"]
    assert [(row["file"], row["face"]) for row in rows] == [("img4.jpg", 1), ("couple.jpg", 1), ("couple.jpg", 2),
                                                           ("notes.jpg", None)]
    assert rows[0]["person"]["name"] == "Angelina" and rows[3]["error"]["code"] == "unsupported_image"
    assert_rows_are_recognize_answers(rows[:3], alice, face_bytes)
    task = GalleryTask.objects.get(pk=accepted["task"])
    assert task.kind == "recognize_batch" and task.result["rows"] == rows
    assert alice.client.get(f"/api/v1/tasks/{task.pk}").json()["result"]["rows"] == rows
    # Privacy: the uploaded photos are gone, folder and all; nothing was added to the gallery.
    assert stored_batch_files(media_root) == [] and not any((media_root / "batches").rglob("*/*/*"))
    assert gallery.photos.count() == 4
    # Another domain's key: the task does not exist for it.
    assert bob.client.get(f"/api/v1/domains/beta/recognize-batch/{task.pk}").status_code == 404
    assert bob.client.get(f"/api/v1/domains/alpha/recognize-batch/{task.pk}").status_code == 404
    assert bob.client.get(f"/api/v1/tasks/{task.pk}").status_code == 404


def test_batch_results_are_paginated(gallery, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task = alice.client.post("/api/v1/domains/alpha/recognize-batch", {"image": batch_files()},
                                 format="multipart").json()["task"]

    first = alice.client.get(f"/api/v1/domains/alpha/recognize-batch/{task}", {"page_size": 3}).json()
    second = alice.client.get(first["next"]).json()

    assert first["count"] == second["count"] == 4 and first["previous"] is None and second["next"] is None
    assert [len(first["results"]), len(second["results"])] == [3, 1]
    assert second["results"][0]["file"] == "notes.jpg"


def test_a_read_only_key_may_ask_and_a_queued_batch_keeps_its_photos_until_run(alpha, charlie, media_root):
    response = charlie.client.post("/api/v1/domains/alpha/recognize-batch", {"image": batch_files()[:1]},
                                   format="multipart")

    assert response.status_code == 202 and response.json()["status"] == "queued"  # enqueued on commit
    assert len(stored_batch_files(media_root)) == 1
    results = charlie.client.get(response.json()["results"]).json()
    assert (results["status"], results["count"], results["results"]) == ("queued", 0, [])


def test_batch_upload_limits_and_errors_are_the_photo_uploads(alpha, alice, bob, anonymous, settings, media_root):
    settings.MAX_UPLOAD_BYTES = 1000
    url = "/api/v1/domains/alpha/recognize-batch"

    missing = alice.client.post(url, {}, format="multipart")
    too_large = alice.client.post(url, {"image": batch_files()[:1]}, format="multipart")
    other_domain = bob.client.post(url, {"image": batch_files()[2:]}, format="multipart")
    no_key = anonymous.post(url, {"image": batch_files()[2:]}, format="multipart")

    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "image_required")
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "too_large")
    assert (other_domain.status_code, other_domain.json()["error"]["code"]) == (404, "domain_not_found")
    assert no_key.status_code == 401
    assert not (media_root / "batches").exists() and not GalleryTask.objects.filter(kind="recognize_batch").exists()


def test_a_failing_batch_deletes_every_photo(gallery, alice, media_root, monkeypatch,
                                             django_capture_on_commit_callbacks):
    from recognition import services

    def broken(*args, **kwargs):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(services, "recognize", broken)  # a failure the task cannot recover from
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        alice.client.post("/api/v1/domains/alpha/recognize-batch", {"image": batch_files()}, format="multipart")

    task = GalleryTask.objects.get(kind="recognize_batch")
    assert task.status == "failed" and "the model fell over" in task.error
    assert stored_batch_files(media_root) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_real_worker_runs_the_batch(gallery, alice, media_root):
    """The task kind recognition registers is known to a worker process started by Celery's CLI."""
    response = alice.client.post("/api/v1/domains/alpha/recognize-batch", {"image": batch_files()},
                                 format="multipart")

    assert response.status_code == 202
    task = wait_for(response.json()["task"])
    assert task.status == "done", task.error
    assert [row["file"] for row in task.result["rows"]] == ["img4.jpg", "couple.jpg", "couple.jpg", "notes.jpg"]
    assert stored_batch_files(media_root) == []
