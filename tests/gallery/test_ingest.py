"""ingest_images: layouts, dry run, --async, error report, parallel workers, and a run killed with
SIGKILL and rerun (a real subprocess against the test database)."""

import csv
import os
import shutil
import signal
import subprocess
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from gallery.ingest import person_name
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask, Person
from tests.conftest import FACES
from tests.gallery.conftest import manage, photo_tree, subprocess_env


def ingest(*args, **options) -> str:
    out = StringIO()
    call_command("ingest_images", *map(str, args), no_progress=True, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def assert_one_face_per_photo(slug: str, files: int) -> None:
    photos = FacePhoto.objects.filter(domain__slug=slug)
    assert photos.count() == files
    assert not photos.filter(status="pending").exists()
    assert FaceEmbedding.objects.filter(domain__slug=slug).count() == photos.filter(status="embedded").count()
    duplicates = (
        FaceEmbedding.objects.filter(domain__slug=slug).values("photo_id", "model_name").annotate(n=Count("id"))
    )
    assert all(row["n"] == 1 for row in duplicates)
    assert photos.values("content_hash").distinct().count() == files


def test_dry_run_lists_and_writes_nothing(db, tmp_path):
    photos = photo_tree(tmp_path / "photos", ["img1.jpg", "img2.jpg", "img17.jpg"])

    out = ingest(photos, domain="dry", dry_run=True)

    assert "3 photo(s) of 2 person(s)" in out and "nothing written" in out
    assert not Domain.objects.filter(slug="dry").exists() and FacePhoto.objects.count() == 0


def test_loose_files_are_named_after_the_file_and_rerun_skips(db, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copyfile(FACES / "img1.jpg", photos / "Angelina Jolie_1.jpg")
    shutil.copyfile(FACES / "img2.jpg", photos / "Angelina Jolie_2.jpg")
    (photos / "broken_1.jpg").write_bytes(b"not a jpeg")
    report = tmp_path / "report.csv"

    first = ingest(photos, domain="loose", report=report)
    again = ingest(photos, domain="loose")

    assert "2 added" in first and "1 failed" in first
    assert "2 already present" in again and "0 added" in again
    assert list(Person.objects.filter(domain__slug="loose").values_list("name", flat=True)) == ["Angelina Jolie"]
    rows = list(csv.DictReader(report.open()))
    assert [(os.path.basename(r["file"]), r["outcome"]) for r in rows] == [("broken_1.jpg", "failed")]
    record = GalleryTask.objects.filter(kind="ingest").order_by("created").first()
    assert record.status == "done" and record.result["counts"] == {"added": 2, "failed": 1}


def test_name_style_title_prettifies_folder_names(db, tmp_path):
    photos = tmp_path / "photos"
    for folder, name in (("johnny_depp", "img1.jpg"), ("jean-luc_picard", "img17.jpg")):
        (photos / folder).mkdir(parents=True)
        shutil.copyfile(FACES / name, photos / folder / name)

    as_is = ingest(photos, domain="styled", dry_run=True)
    out = ingest(photos, domain="styled", name_style="title")

    assert "  johnny_depp: 1 photo(s)" in as_is  # by default a folder name is the name as it is
    assert "2 added" in out
    assert sorted(Person.objects.filter(domain__slug="styled").values_list("name", flat=True)) == [
        "Jean-Luc Picard", "Johnny Depp"]


@pytest.mark.parametrize(("raw", "style", "name"), [
    ("johnny_depp", "as-is", "johnny_depp"),
    ("johnny_depp", "spaces", "johnny depp"),
    ("  johnny__depp ", "spaces", "johnny depp"),
    ("johnny_depp", "title", "Johnny Depp"),
    ("mary-kate_olsen", "title", "Mary-Kate Olsen"),
    ("ronald_McDonald", "title", "Ronald McDonald"),  # letters after the first are kept as written
    ("JOHNNY_DEPP", "title", "JOHNNY DEPP"),
])
def test_person_name_styles(raw, style, name):
    assert person_name(raw, style) == name


def test_unknown_name_style_is_refused(db, tmp_path):
    photos = photo_tree(tmp_path / "photos", ["img1.jpg"])

    with pytest.raises(CommandError, match="invalid choice: 'fancy'"):
        call_command("ingest_images", str(photos), "--domain", "x", "--name-style", "fancy", stdout=StringIO())
    assert not Domain.objects.filter(slug="x").exists()


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_to_a_pipe_is_plain_lines_with_one_final_line(db, tmp_path):
    photos = photo_tree(tmp_path / "photos", ["img1.jpg", "img2.jpg"])
    err = StringIO()

    call_command("ingest_images", str(photos), domain="piped", stdout=StringIO(), stderr=err)

    text = err.getvalue()
    assert "\r" not in text and "\n\n" not in text
    final = [line for line in text.splitlines() if "2/2" in line]
    assert len(final) == 1, text
    assert "100%" in final[0] and "added=2" in final[0] and "failed=0" in final[0]


def test_progress_on_a_terminal_is_one_bar_redrawn_in_place(db, tmp_path):
    photos = photo_tree(tmp_path / "photos", ["img1.jpg", "img2.jpg"])
    err = Terminal()

    call_command("ingest_images", str(photos), domain="tty", stdout=StringIO(), stderr=err)

    text = err.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n"), repr(text)  # redrawn with \r, one newline at the end
    last = text.rstrip("\n").rsplit("\r", 1)[-1]
    assert "100%" in last and "2/2" in last and "added=2" in last


def test_async_ingest_queues_batches_for_celery(db, tmp_path, django_capture_on_commit_callbacks):
    photos = photo_tree(tmp_path / "photos", ["img1.jpg", "img2.jpg", "img17.jpg"])

    with django_capture_on_commit_callbacks(execute=True):
        out = ingest(photos, domain="queued", queue=True, batch_size=2)

    assert "3 queued for Celery" in out
    tasks = GalleryTask.objects.filter(kind="embed_batch").order_by("created")
    assert [task.total for task in tasks] == [2, 1] and {task.status for task in tasks} == {"done"}
    assert_one_face_per_photo("queued", 3)


@pytest.mark.django_db(transaction=True)
def test_two_workers_create_each_person_once(tmp_path):
    files = ["img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg", "img17.jpg", "img26.jpg"]
    photos = photo_tree(tmp_path / "photos", files)

    out = ingest(photos, domain="parallel", workers=2, batch_size=1)

    assert "6 added" in out
    names = list(Person.objects.filter(domain__slug="parallel").values_list("name", flat=True))
    assert sorted(names) == sorted(set(names)) and len(names) == 3
    assert_one_face_per_photo("parallel", 6)


@pytest.mark.django_db(transaction=True)
def test_ingest_killed_with_sigkill_and_rerun_ends_with_one_face_per_photo(tmp_path, labelled_files):
    files = labelled_files[:24]
    photo_tree(tmp_path / "photos", files)
    command = manage("ingest_images", str(tmp_path / "photos"), "--domain", "killed", "--workers", "2",
                     "--batch-size", "2", "--no-progress")
    env = subprocess_env()

    run = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while FacePhoto.objects.filter(domain__slug="killed").count() < 6:
        assert run.poll() is None, run.stdout.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no photo was committed in time"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # the parent and its worker processes, mid-run
    run.wait()
    time.sleep(1)
    killed_at = FacePhoto.objects.filter(domain__slug="killed").count()
    assert 6 <= killed_at < len(files)

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{killed_at} already present" in rerun.stdout
    assert_one_face_per_photo("killed", len(files))
