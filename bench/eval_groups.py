"""Group-photo face recall: how many of the faces a person counts in a photo the detector finds.

A detected box finds an annotated face when their intersection over union is at least 0.5 (the
PASCAL VOC rule; the eval-dev boxes are dlib's own annotations, drawn the way its HOG detector
was trained to box a face). Detectors that box faces differently (OpenCV's Haar cascade draws
larger squares, MTCNN taller boxes) can miss 0.5 on a face they did find, so the looser *centre*
rule is reported beside it: each box contains the other's centre. Each annotated face is matched
at most once (greedily, best overlap first). Photos without boxes are scored on counts alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.eval_data import Box, GroupPhoto

IOU_MATCH = 0.5


@dataclass(frozen=True)
class GroupRecall:
    photo: str
    annotated: int
    detected: int
    found_iou: int
    found_centre: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def matched(detected: list[Box], annotated: list[Box], *, rule: str) -> int:
    pairs = []
    for i, found in enumerate(detected):
        for j, truth in enumerate(annotated):
            iou = found.iou(truth)
            ok = iou >= IOU_MATCH if rule == "iou" else found.contains(*truth.centre) and truth.contains(*found.centre)
            if ok:
                pairs.append((iou, i, j))
    used_found, used_truth = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_found and j not in used_truth:
            used_found.add(i)
            used_truth.add(j)
    return len(used_truth)


def group_recall(group: GroupPhoto, detected: list[Box]) -> GroupRecall:
    if group.boxes:
        found_iou, found_centre = matched(detected, group.boxes, rule="iou"), matched(detected, group.boxes, rule="centre")
    else:
        found_iou = found_centre = min(len(detected), group.count)
    return GroupRecall(group.path.name, group.count, len(detected), found_iou, found_centre)


def totals(rows: list[GroupRecall]) -> dict:
    annotated = sum(row.annotated for row in rows)
    found_iou, found_centre = sum(row.found_iou for row in rows), sum(row.found_centre for row in rows)
    detected = sum(row.detected for row in rows)
    return {
        "photos": len(rows),
        "annotated": annotated,
        "detected": detected,
        "found_iou": found_iou,
        "found_centre": found_centre,
        "recall_iou": round(found_iou / annotated, 4) if annotated else None,
        "recall_centre": round(found_centre / annotated, 4) if annotated else None,
        "unmatched_detections": detected - found_centre,
    }
