"""Dual mode: ``exact=true`` on recognize also runs exact search and reports how the answers agree;
``validate_search`` does the same over many faces and fails below a bar."""

from __future__ import annotations

import json
import pickle

import pytest
from django.core.management import CommandError, call_command

from bench.synthetic import clustered, gallery_load
from gallery import indexes
from gallery.models import Domain
from tests.conftest import add_photos
from tests.recognition.test_recognize_api import recognize


def test_exact_true_adds_a_comparison_that_agrees(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(alpha, "Other", "img17.jpg")

    body = recognize(alice, "img4.jpg", exact="true").json()

    face = body["faces"][0]
    assert face["comparison"]["top1_match"] is True
    assert face["comparison"]["top5_overlap"] == 2
    assert face["comparison"]["top5_overlap_pct"] == 100.0
    assert [c["person"]["name"] for c in face["comparison"]["exact_candidates"]] == [
        c["person"]["name"] for c in face["candidates"]
    ]
    assert "exact_search" in body["timings_ms"]


def test_without_exact_there_is_no_comparison(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg")

    face = recognize(alice, "img4.jpg").json()["faces"][0]

    assert "comparison" not in face
    assert "exact_search" not in recognize(alice, "img4.jpg").json()["timings_ms"]


@pytest.fixture
def synthetic(db):
    domain = Domain.objects.create(slug="synthetic", name="synthetic", model_name="Dlib")
    gallery = clustered(1500, 128, seed=4)
    gallery_load(domain, gallery)
    indexes.vector_index_ensure(domain_id=domain.id, model_name="Dlib", alignment=domain.alignment)
    return domain, gallery


def test_validate_search_passes_on_a_healthy_index(synthetic, capsys):
    call_command("validate_search", "--domain", "synthetic", "--sample", "30", "--json")


    figures = json.loads(capsys.readouterr().out)
    assert figures["queries"] == 30
    assert figures["recall_at_k"] >= 0.99 and figures["top1_agreement"] >= 0.99


def test_validate_search_fails_below_the_bar(synthetic):
    with pytest.raises(CommandError, match="below the bar: recall_at_k"):
        call_command("validate_search", "--domain", "synthetic", "--sample", "10", "--min-recall", "1.01")


def test_validate_search_compares_with_a_pkl_gallery(synthetic, tmp_path, capsys):
    _, gallery = synthetic
    records = [
        {"identity": f"/db/Person {person}/{i}.jpg", "embedding": gallery.vectors[i].tolist()}
        for i, person in enumerate(gallery.person_of.tolist())
    ]
    pkl = tmp_path / "representations_dlib.pkl"
    pkl.write_bytes(pickle.dumps(records))

    call_command("validate_search", "--domain", "synthetic", "--pkl", str(pkl), "--sample", "20", "--json")


    figures = json.loads(capsys.readouterr().out)
    assert figures["pkl_top1_agreement"] == 1.0
    assert figures["source"] == str(pkl)


def test_validate_search_refuses_an_unknown_domain(db):
    with pytest.raises(CommandError, match="no domain"):
        call_command("validate_search", "--domain", "nope")
