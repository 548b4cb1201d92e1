"""calibrate_threshold: a domain's threshold from its own gallery (gallery/services/calibration.py),
on the real model's faces of the test photos and, for the admin action, on synthetic faces."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from bench.synthetic import clustered, gallery_load
from gallery import services
from gallery.models import Domain, Person
from tests.conftest import FACES, add_photos

pytestmark = pytest.mark.django_db


def enrol_test_photos(domain) -> int:
    """Every labelled test photo, one person per identity; returns the number of persons."""
    by_identity = defaultdict(list)
    with open(FACES / "labels.csv") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(row["file"])
    for identity, files in by_identity.items():
        add_photos(domain, identity, *files)
    return len(by_identity)


def calibrate(*args: str) -> str:
    out = io.StringIO()
    call_command("calibrate_threshold", *args, stdout=out)
    return out.getvalue()


def test_calibrate_threshold_proposes_and_sets_a_threshold_from_the_domains_photos(alpha):
    persons = enrol_test_photos(alpha)

    report = calibrate("--domain", "alpha")

    proposed = float(re.search(r"proposed threshold (\d\.\d{4})", report).group(1))
    # Dlib's different-person faces of these photos are ~0.16 apart, same-person ~0.04.
    assert 0.04 < proposed < 0.1, report
    assert f"{persons} persons" in report and "not stored" in report
    result = services.threshold_calibrate(domain=alpha)
    assert result.proposed == proposed
    row = result.row(proposed)
    assert row.strangers_named <= 0.01 and row.known_named >= 0.9, row
    assert result.row(proposed + 0.0001).strangers_named > 0.01  # the largest such threshold
    assert re.search(rf"{proposed:.4f} +0\.0 % +\d+\.\d %  proposed", report), report
    alpha.refresh_from_db()
    assert alpha.threshold is None

    stored = calibrate("--domain", "alpha", "--set", "--target-far", "0.05")

    alpha.refresh_from_db()
    assert alpha.threshold == services.threshold_calibrate(domain=alpha, target=0.05).proposed >= proposed
    assert "stored as alpha's threshold" in stored


def test_calibrate_threshold_refuses_a_domain_with_fewer_than_two_persons_with_faces(alpha):
    add_photos(alpha, "Only one", "img1.jpg", "img2.jpg")
    Person.objects.create(domain=alpha, name="No photos")

    with pytest.raises(CommandError, match="1 person.*at least 2"):
        calibrate("--domain", "alpha", "--set")

    alpha.refresh_from_db()
    assert alpha.threshold is None


def test_impostor_and_genuine_statistics_follow_their_definitions():
    domain = Domain.objects.create(slug="synthetic", name="synthetic")
    gallery = clustered(120, 128, seed=4)
    gallery_load(domain, gallery)
    ids = {p.name: p.id for p in Person.objects.filter(domain=domain)}

    result = services.threshold_calibrate(domain=domain)

    vectors = gallery.vectors / np.linalg.norm(gallery.vectors, axis=1, keepdims=True)
    persons = np.unique(gallery.person_of)
    sums = np.array([vectors[gallery.person_of == p].sum(axis=0) for p in persons])
    units = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    impostor, genuine = [], []
    for vector, own in zip(vectors, gallery.person_of, strict=True):
        others = [1 - vector @ units[i] for i, p in enumerate(persons) if p != own]
        impostor.append(min(others))
        own_row = list(persons).index(own)
        if (gallery.person_of == own).sum() >= 2:
            rest = sums[own_row] - vector
            genuine.append(1 - vector @ rest / np.linalg.norm(rest))
    assert len(ids) == result.persons == len(persons)
    np.testing.assert_allclose(result.impostor, np.sort(impostor), atol=1e-5)
    np.testing.assert_allclose(result.genuine, np.sort(genuine), atol=1e-5)


def test_admin_action_calibrates_each_selected_domain_and_says_so(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    big = Domain.objects.create(slug="big", name="big")
    gallery_load(big, clustered(300, 128, seed=2))
    small = Domain.objects.create(slug="small", name="small")

    page = client.post(
        "/admin/gallery/domain/", {"action": "calibrate_threshold", "_selected_action": [big.pk, small.pk]}, follow=True
    ).content.decode().lower()  # the admin capitalizes messages

    was = big.effective_threshold
    big.refresh_from_db()
    small.refresh_from_db()
    assert big.threshold == services.threshold_calibrate(domain=big).proposed
    assert f"big: threshold {big.threshold:.4f} (was {was:.4f})" in page
    assert "small has 0 person(s)" in page and small.threshold is None
