"""create_api_key and ingest_images as an operator runs them."""

import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, Person
from tests.conftest import FACES


def test_create_api_key_prints_the_key_last_and_stores_only_its_hash(alpha, beta):
    out = io.StringIO()
    call_command("create_api_key", "frontend", "--domains", "alpha,beta", stdout=out, stderr=io.StringIO())

    secret = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(name="frontend")
    assert key.key_hash == ApiKey.hash_key(secret) and secret not in (key.key_hash, key.prefix)
    assert sorted(key.domains.values_list("slug", flat=True)) == ["alpha", "beta"]
    assert key.can_write is False


def test_create_api_key_with_write(alpha):
    call_command("create_api_key", "sync", "--domains", "alpha", "--write", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.get(name="sync").can_write is True


def test_create_api_key_refuses_unknown_domain(alpha):
    with pytest.raises(CommandError, match="nope"):
        call_command("create_api_key", "x", "--domains", "alpha,nope", stdout=io.StringIO())
    assert not ApiKey.objects.exists()


@pytest.fixture
def photos_dir(tmp_path):
    path = tmp_path / "photos"  # beside, not around, the test's MEDIA_ROOT
    path.mkdir()
    return path


def test_ingest_creates_domain_then_skips_what_is_done(db, photos_dir):
    for person, files in {"Angelina": ["img1.jpg", "img2.jpg"], "Other Person": ["img17.jpg"]}.items():
        (photos_dir / person).mkdir()
        for file in files:
            shutil.copy(FACES / file, photos_dir / person / file)
    shutil.copy(FACES / "img4.jpg", photos_dir / "Loose Name_7.jpg")

    first = io.StringIO()
    call_command("ingest_images", str(photos_dir), "--domain", "demo", "--no-progress", stdout=first)

    assert "created domain 'demo'" in first.getvalue()
    assert "4 added" in first.getvalue()
    domain = Domain.objects.get(slug="demo")
    assert sorted(Person.objects.filter(domain=domain).values_list("name", flat=True)) == [
        "Angelina", "Loose Name", "Other Person"
    ]
    assert FaceEmbedding.objects.filter(domain=domain).count() == 4

    second = io.StringIO()
    call_command("ingest_images", str(photos_dir), "--domain", "demo", "--no-progress", stdout=second)

    assert "0 added, 4 already present" in second.getvalue()
    assert FacePhoto.objects.count() == 4 and FaceEmbedding.objects.count() == 4


def test_ingest_reports_unreadable_files_and_goes_on(db, photos_dir):
    (photos_dir / "Angelina").mkdir()
    shutil.copy(FACES / "img1.jpg", photos_dir / "Angelina" / "img1.jpg")
    (photos_dir / "Angelina" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    out, err = io.StringIO(), io.StringIO()
    call_command("ingest_images", str(photos_dir), "--domain", "demo", "--no-progress", stdout=out, stderr=err)

    assert "1 added" in out.getvalue() and "1 failed" in out.getvalue()
    assert "broken.jpg" in err.getvalue()
    assert FacePhoto.objects.count() == 1


def test_ingest_dry_run_writes_nothing(db, photos_dir):
    (photos_dir / "Angelina").mkdir()
    shutil.copy(FACES / "img1.jpg", photos_dir / "Angelina" / "img1.jpg")

    out = io.StringIO()
    call_command("ingest_images", str(photos_dir), "--domain", "demo", "--dry-run", stdout=out)

    assert "1 photo(s) of 1 person(s)" in out.getvalue()
    assert not Domain.objects.exists()
