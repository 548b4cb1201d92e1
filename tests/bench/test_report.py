"""`make bench` fails when a target is missed: bench/report.py's verdict on a results dict."""

from __future__ import annotations

from bench.report import exit_status, missed, targets

ALL_HOLD = {
    "recognize": {"ratio_to_floor": 1.1},
    "cold_start": {"first_request_ratio": 1.2, "seconds_to_ready_dlib_only": 0.8},
    "rss_mb": {"idle_dlib_only": 95, "tensorflow_loaded": False, "growth_over_requests": 3, "growth_30k_to_300k": 10},
    "throughput": [{"clients": 1, "efficiency": 0.95}, {"clients": 2, "efficiency": 0.9}, {"clients": 4, "efficiency": 0.85}],
    "deepface_find": {"speedup": 40},
    "search": [{"domain": "d128-30k", "n_per_domain": 30_000, "p50_ms": 2.0, "recall_at_10": 0.998}],
    "ingest": {"scaling": 1.8},
}


def _checked(results: dict) -> dict:
    return {**results, "targets": targets(results)}


def test_every_target_holding_exits_0():
    results = _checked(ALL_HOLD)

    assert len(results["targets"]) == 12 and missed(results) == []
    assert exit_status(results) == 0


def test_one_missed_target_exits_1():
    slow = {**ALL_HOLD, "search": [{**ALL_HOLD["search"][0], "p50_ms": 5.2}]}
    results = _checked(slow)

    assert [t["figure"] for t in missed(results)] == ["search p50_ms d128-30k"]
    assert exit_status(results) == 1



def test_a_stress_row_has_no_target():
    stress = {"domain": "d128-30k-isotropic", "n_per_domain": 30_000, "p50_ms": 9.0, "recall_at_10": 0.8, "stress": True}
    results = _checked({**ALL_HOLD, "search": [*ALL_HOLD["search"], stress]})

    assert exit_status(results) == 0
    assert not any("isotropic" in t["figure"] for t in results["targets"])
