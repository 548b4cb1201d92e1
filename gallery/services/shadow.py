"""Shadow mode's writes: turning it on or off for a domain (after checking its legacy file loads and
fits the domain), and storing the comparisons recognize makes while it is on (recognition/shadow.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from faces.models_zoo import DEEPFACE
from gallery.models import Domain, ShadowComparison
from gallery.pkl_import import PklError, Record, names_from_file, records_check, records_load
from gallery.services.audit import audit_record

ANSWER_FROM = ("pgvector", "pkl")


class ShadowFileRefused(Exception):
    """The legacy file cannot shadow this domain; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class ShadowFile:
    path: Path
    vectors: int
    persons: int


def shadow_file_check(*, domain: Domain, path: str | Path) -> ShadowFile:
    """Load ``path`` with import_pkl's restricted unpickler and check that it can shadow ``domain``:
    vectors of the domain's model, computed on DeepFace's crop, so they are compared with the very
    vectors the domain searches (a domain on dlib's chip would compare two different spaces)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ShadowFileRefused(f"{path}: no such file")
    try:
        records = records_load(path)
        records_check(records, domain.model_name)
    except PklError as exc:
        raise ShadowFileRefused(f"{path.name}: {exc}") from None
    _check_fits(domain, path, records)
    with_vector = [record for record in records if record.embedding is not None]
    return ShadowFile(path=path, vectors=len(with_vector), persons=len({r.person_name for r in with_vector}))


def _check_fits(domain: Domain, path: Path, records: list[Record]) -> None:
    if not any(record.embedding is not None for record in records):
        raise ShadowFileRefused(f"{path.name} holds no face vectors")
    model, _ = names_from_file(path)
    if model and model != domain.model_name.lower():
        raise ShadowFileRefused(f"{path.name} was written for {model}; domain {domain.slug!r} uses {domain.model_name}")
    if domain.alignment != DEEPFACE:
        raise ShadowFileRefused(
            f"domain {domain.slug!r} uses the {domain.alignment} alignment; a DeepFace file's vectors come from "
            f"DeepFace's crop and are compared only with a domain on the {DEEPFACE} alignment (import_pkl's rule)"
        )


@transaction.atomic
def domain_shadow_enable(*, domain: Domain, path: str | Path, answer_from: str = "pgvector") -> ShadowFile:
    """Turn shadow mode on with ``path`` (checked first: a refused file leaves the domain unchanged)."""
    if answer_from not in ANSWER_FROM:
        raise ShadowFileRefused(f"answer_from must be one of {', '.join(ANSWER_FROM)}, not {answer_from!r}")
    checked = shadow_file_check(domain=domain, path=path)
    domain.shadow_file, domain.shadow_enabled, domain.shadow_answer_from = str(checked.path), True, answer_from
    domain.save(update_fields=["shadow_file", "shadow_enabled", "shadow_answer_from"])
    # The file's path is an operator's setting, not a picture of anyone: recorded.
    audit_record(action="shadow.enable", obj=domain, domain=domain,
                 details={"file": str(checked.path), "answer_from": answer_from})
    return checked


@transaction.atomic
def domain_shadow_disable(*, domain: Domain) -> Domain:
    """Turn shadow mode off: pgvector answers alone. The file's path and the comparisons are kept."""
    domain.shadow_enabled, domain.shadow_answer_from = False, "pgvector"
    domain.save(update_fields=["shadow_enabled", "shadow_answer_from"])
    audit_record(action="shadow.disable", obj=domain, domain=domain, details={})
    return domain


@transaction.atomic
def shadow_comparisons_record(*, domain: Domain, comparisons: list[dict], request_id: str = "") -> list[ShadowComparison]:
    """Store one recognize's comparisons (one per face: ShadowComparison's fields)."""
    return ShadowComparison.objects.bulk_create(
        ShadowComparison(domain=domain, request_id=request_id or "", answer_from=domain.shadow_answer_from, **row)
        for row in comparisons
    )
