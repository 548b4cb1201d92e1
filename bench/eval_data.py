"""The labelled photos ``make eval`` measures with: identities (one folder per person, or a
``labels.csv`` of ``file,identity``) and group photos with their annotated faces.

Group photos: ``counts.csv`` (``file,faces``) gives the number of faces a person counts in each
photo and ``boxes.csv`` (``file,...,left,top,width,height``, the photo's own pixels) the annotated
boxes, when there are any.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass(frozen=True)
class Photo:
    person: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.person}/{self.path.name}"


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass
class GroupPhoto:
    path: Path
    count: int
    boxes: list[Box] = field(default_factory=list)


def load_identities(root: Path) -> list[Photo]:
    """Every labelled photo under ``root``: ``labels.csv`` when present, else ``person/photo``."""
    labels = root / "labels.csv"
    if labels.is_file():
        with open(labels) as handle:
            return [Photo(row["identity"], root / row["file"]) for row in csv.DictReader(handle)]
    folder = root / "identities" if (root / "identities").is_dir() else root
    return [
        Photo(person.name, path)
        for person in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "groups")
        for path in sorted(person.iterdir(), key=_natural)
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


def by_person(photos: list[Photo]) -> dict[str, list[Photo]]:
    grouped: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        grouped[photo.person].append(photo)
    return dict(sorted(grouped.items()))


def load_groups(folder: Path) -> list[GroupPhoto]:
    """Group photos named in ``counts.csv`` with their boxes from ``boxes.csv`` (if any)."""
    counts = folder / "counts.csv"
    if not counts.is_file():
        return []
    with open(counts) as handle:
        groups = {row["file"]: GroupPhoto(folder / row["file"], int(row["faces"])) for row in csv.DictReader(handle)}
    boxes = folder / "boxes.csv"
    if boxes.is_file():
        with open(boxes) as handle:
            for row in csv.DictReader(handle):
                box = Box(int(row["left"]), int(row["top"]), int(row["width"]), int(row["height"]))
                groups[row["file"]].boxes.append(box)
    return list(groups.values())


def _natural(path: Path) -> tuple:
    stem = path.stem
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)
