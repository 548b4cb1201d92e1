"""The markdown page of ``make eval`` (bench/results/eval.md), from the results of bench.eval."""

from __future__ import annotations


def _at(rows: list[dict], threshold: float) -> dict:
    return min(rows, key=lambda row: abs(row["threshold"] - threshold))


def _cell(row: dict) -> str:
    return f"{row['known_right']:.3f} / {row['named_wrong']:.3f} / {row['strangers_named']:.3f}"


def _operating_point(rows: list[dict], *, strangers: float = 0.025) -> str:
    """The largest threshold that names no known person wrong and at most ``strangers`` of the
    strangers. Chosen on this data, so optimistic: for comparing rules, not for setting defaults."""
    ok = [row for row in rows if row["named_wrong"] == 0 and row["strangers_named"] <= strangers]
    if not ok:
        return "none"
    row = max(ok, key=lambda r: r["threshold"])
    return f"{row['threshold']:g}: {row['known_right']:.3f}"


def header(results: dict) -> list[str]:
    s, d = results["settings"], results["data"]
    return [
        "# make eval: naming known people and strangers on labelled real photos",
        "",
        f"`{results['command']}` — {results['when']}, {results['duration_s']:.0f} s, "
        f"{results['machine']['cpus']} CPUs (load {results['machine']['load_1m']}).",
        "",
        f"Data: `{d['folder']}`: {d['people']} people, {d['photos']} photos; {d['groups']} group photos with "
        f"{d['group_faces']} counted faces. Product defaults: model {s['model']}, detector {s['detector']}, photos "
        f"scaled to {s['max_image_side']} px, threshold {s['threshold']} (cosine distance), rule *{s['product_rule']}*. "
        f"{s['splits']} random splits (seed {s['seed']}): {s['enrol_share']:.0%} of the people with more than "
        f"{max(s['photo_counts'])} photos enrolled with n photos each, their other photos queried; everyone else is a stranger.",
        "",
        "Cells read **known named right / known named wrong / strangers named** (shares of known and of stranger queries; "
        "the rest of the known queries are rejected as unknown).",
    ]


def targets_table(results: dict) -> list[str]:
    s = results["settings"]
    lines = [
        "",
        f"## Done-when targets ({s['product_variant']}, {s['product_rule']}, threshold {s['threshold']}, "
        f"{s['default_photos']} photos per person)",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t['figure']} | {t['value']} | {t['target']} | {'ok' if t['ok'] else 'MISS'} |" for t in results["targets"]]
    return lines


def headline(results: dict) -> list[str]:
    s = results["settings"]
    n = str(s["default_photos"])
    lines = [
        "",
        f"## Open set, {n} photos per person",
        "",
        f"| preprocessing | rule | at {s['threshold']} (default) | at dlib's 0.6 Euclidean, as cosine at the vectors' norm | "
        f"at {s['dlib_cosine']:g} (0.6 Euclidean as if unit vectors) | largest threshold with 0 wrong, ≤ 2.5 % strangers: "
        "known right (tuned here, optimistic) |",
        "|---|---|---|---|---|---|",
    ]
    for name, variant in results["variants"].items():
        dlib = variant["dlib_euclidean_as_cosine"]
        for rule, per_count in variant["open_set"].items():
            rows = per_count[n]["roc"]
            cells = [_cell(_at(rows, s["threshold"])), f"{dlib:g}: " + _cell(_at(rows, dlib)), _cell(_at(rows, s["dlib_cosine"]))]
            lines.append(f"| {name} | {rule} | " + " | ".join(cells) + f" | {_operating_point(rows)} |")
    first = next(iter(results["variants"].values()))["open_set"]
    row = first[s["product_rule"]][n]["roc"][0]
    lines += ["", f"{row['known_queries']} known and {row['stranger_queries']} stranger queries over the splits."]
    return lines


def trend(results: dict, thresholds: list[float]) -> list[str]:
    counts = results["settings"]["photo_counts"]
    lines = [
        "",
        "## Photos per person (the same held-out queries for every n)",
        "",
        "| preprocessing | rule | threshold | " + " | ".join(f"n = {n}" for n in counts) + " |",
        "|---|---|---|" + "---|" * len(counts),
    ]
    for name, variant in results["variants"].items():
        for t in thresholds:
            for rule, per_count in variant["open_set"].items():
                cells = [_cell(_at(per_count[str(n)]["trend"], t)) for n in counts]
                lines.append(f"| {name} | {rule} | {t:g} | " + " | ".join(cells) + " |")
    return lines


def closed(results: dict) -> list[str]:
    counts = results["settings"]["photo_counts"]
    lines = [
        "",
        "## Closed set top-1 (every eligible person enrolled; is the nearest person right?)",
        "",
        "| preprocessing | rule | " + " | ".join(f"n = {n}" for n in counts) + " |",
        "|---|---|" + "---|" * len(counts),
    ]
    for name, variant in results["variants"].items():
        for rule, per_count in variant["closed_set"].items():
            lines.append(f"| {name} | {rule} | " + " | ".join(f"{per_count[str(n)]['top1']:.3f}" for n in counts) + " |")
    return lines


def roc(results: dict) -> list[str]:
    n = str(results["settings"]["default_photos"])
    lines = []
    for name, variant in results["variants"].items():
        rules = list(variant["open_set"])
        lines += [
            "",
            f"## Threshold vs known right / wrong / strangers named: {name}, {n} photos per person",
            "",
            "| threshold | " + " | ".join(rules) + " |",
            "|---|" + "---|" * len(rules),
        ]
        for i, row in enumerate(variant["open_set"][rules[0]][n]["roc"]):
            cells = [_cell(variant["open_set"][rule][n]["roc"][i]) for rule in rules]
            lines.append(f"| {row['threshold']:g} | " + " | ".join(cells) + " |")
    return lines


def pairs(results: dict) -> list[str]:
    s = results["settings"]
    lines = [
        "",
        "## Same / different person pairs (cosine distance; every pair of photos with a face)",
        "",
        "| preprocessing | pairs same / diff | vector norm min–median–max | same: median, 95 %, 99 % | different: 1 %, 5 %, median | "
        f"at {s['threshold']}: same rejected, diff accepted | at {s['dlib_cosine']:g} | Euclidean 0.6 (raw vectors) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, variant in results["variants"].items():
        p = variant["pairs"]
        sq, dq, norm = p["same_quantiles"], p["different_quantiles"], p["vector_norm"]
        d, e = _at(p["by_threshold"], s["threshold"]), _at(p["by_threshold"], s["dlib_cosine"])
        eu = p["euclidean_0.6"]
        lines.append(
            f"| {name} | {p['same_pairs']} / {p['different_pairs']} | {norm['min']}–{norm['median']}–{norm['max']} | "
            f"{sq['0.5']}, {sq['0.95']}, {sq['0.99']} | {dq['0.01']}, {dq['0.05']}, {dq['0.5']} | "
            f"{d['same_rejected']}, {d['different_accepted']} | {e['same_rejected']}, {e['different_accepted']} | "
            f"{eu['same_rejected']}, {eu['different_accepted']} |"
        )
    return lines


def groups(results: dict) -> list[str]:
    lines = []
    for name, variant in results["variants"].items():
        if "groups" not in variant:
            continue
        t = variant["groups"]["totals"]
        lines += [
            "",
            f"## Group photos: {name}",
            "",
            f"Faces found: **{t['found_iou']} of {t['annotated']}** at IoU ≥ 0.5 (recall {t['recall_iou']}), "
            f"{t['found_centre']} by the centre rule; {t['detected']} boxes detected, {t['unmatched_detections']} "
            "matching no annotated face (unannotated tiny faces or false detections).",
            "",
            "| photo | counted | detected | found (IoU ≥ 0.5) | found (centre rule) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['photo']} | {r['annotated']} | {r['detected']} | {r['found_iou']} | {r['found_centre']} |"
            for r in variant["groups"]["rows"]
        ]
    return lines


def other(results: dict) -> list[str]:
    lines = ["", "## Photos without a face, time per stage", ""]
    for name, variant in results["variants"].items():
        missing = ", ".join(variant["no_face"]) or "none"
        lines.append(
            f"- {name}: no face in {len(variant['no_face'])} photos ({missing}); several faces in "
            f"{len(variant['several_faces'])}; median ms per photo {variant['timings']['per_photo_ms']}, "
            f"per face {variant['timings']['per_face_ms']}."
        )
    if "e2e" in results:
        e = results["e2e"]
        lines += [
            "",
            "## End-to-end check",
            "",
            f"One split ({e['enrolled_photos']} photos enrolled with gallery.services.photo_add into a scratch domain of the "
            f"bench database, {e['queries']} queries through recognition.services.recognize): **{e['agreed']} of "
            f"{e['queries']}** answered as the simulation (same match, same nearest person, distance within 1e-4; "
            f"largest difference {e['max_distance_diff']:.2g}). {'OK' if e['ok'] else 'DISAGREES: ' + str(e['disagreements'])}",
        ]
    return lines


def markdown(results: dict) -> str:
    s = results["settings"]
    lines = header(results) + targets_table(results) + headline(results)
    lines += trend(results, sorted({s["threshold"], 0.05, 0.06}))
    lines += closed(results) + pairs(results) + roc(results) + groups(results) + other(results)
    return "\n".join(lines) + "\n"
