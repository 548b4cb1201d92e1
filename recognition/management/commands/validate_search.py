"""Dual-mode check before a cut-over: does the HNSW search answer like exact search (and like the
old PKL gallery)?"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from gallery.models import Domain, FaceEmbedding, Person
from recognition.search_validation import measure_agreement


class Command(BaseCommand):
    help = (
        "Replay stored faces of a domain (or the faces of a DeepFace PKL gallery) through approximate and exact "
        "search and report top-1 agreement, top-5 overlap, recall@k and latency. Exits non-zero when a figure "
        "is below its bar."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="Slug of the domain to check")
        parser.add_argument("--pkl", type=Path, help="A DeepFace representations .pkl (or .npz datastore): query with "
                            "its faces and also compare our answers with a brute-force search of the file")
        parser.add_argument("--sample", type=int, default=200, help="How many faces to replay (default 200)")
        parser.add_argument("--k", type=int, default=10, help="recall@k is measured on the k nearest faces (default 10)")
        parser.add_argument("--min-recall", type=float, default=0.99, help="Bar for recall@k (default 0.99)")
        parser.add_argument("--min-match", type=float, default=0.99,
                            help="Bar for the share of faces given the same answer (match or unknown) both ways (default 0.99)")
        parser.add_argument("--min-top1", type=float, default=0.97,
                            help="Bar for ANN/exact top-1 candidate agreement, unknown faces included (default 0.97)")
        parser.add_argument("--min-top5", type=float, default=0.95, help="Bar for the mean top-5 overlap (default 0.95)")
        parser.add_argument("--min-pkl-top1", type=float, default=0.95,
                            help="With --pkl: bar for top-1 agreement with the PKL's brute force (default 0.95)")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the random sample (default 0)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print the figures as one JSON object")

    def handle(self, *args, domain, pkl, sample, k, min_recall, min_match, min_top1, min_top5, min_pkl_top1, seed, as_json, **options):
        target = Domain.objects.filter(slug=domain).first()
        if target is None:
            raise CommandError(f"no domain {domain!r}")
        if sample < 1 or k < 1:
            raise CommandError("--sample and --k must be at least 1")
        rng = np.random.default_rng(seed)
        figures: dict = {"domain": target.slug, "model": target.model_name}
        if pkl:
            vectors, identities = self._pkl_queries(pkl, target, sample, rng)
            figures["source"] = str(pkl)
        else:
            vectors, identities = self._stored_queries(target, sample, rng), None
            figures["source"] = "stored faces"
        if len(vectors) == 0:
            raise CommandError(f"nothing to replay: {figures['source']} has no {target.model_name} faces")
        agreement = measure_agreement(
            vectors, domain_id=target.id, model_name=target.model_name, alignment=target.alignment,
            threshold=target.effective_threshold, k=k,
        )
        figures.update(agreement.as_dict())
        bars = [("recall_at_k", min_recall), ("match_agreement", min_match), ("top1_agreement", min_top1),
                ("top5_overlap", min_top5)]
        if identities is not None:
            figures["pkl_top1_agreement"] = round(self._pkl_agreement(vectors, identities, target), 4)
            bars.append(("pkl_top1_agreement", min_pkl_top1))
        self._report(figures, as_json=as_json)
        failed = [f"{name} {figures[name]} < {bar}" for name, bar in bars if figures[name] < bar]
        if failed:
            raise CommandError("below the bar: " + "; ".join(failed))

    def _stored_queries(self, domain: Domain, sample: int, rng: np.random.Generator) -> np.ndarray:
        served = FaceEmbedding.objects.filter(domain=domain, model_name=domain.model_name, alignment=domain.alignment)
        ids = list(served.values_list("id", flat=True))
        chosen = rng.choice(ids, size=min(sample, len(ids)), replace=False).tolist() if ids else []
        rows = FaceEmbedding.objects.filter(id__in=chosen).values_list("embedding", flat=True)
        return np.array([np.asarray(row, dtype=np.float32) for row in rows])

    def _pkl_queries(self, path: Path, domain: Domain, sample: int, rng: np.random.Generator):
        from gallery.pkl_import import PklError, records_check, records_load

        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            records = [r for r in records_load(path) if r.embedding is not None]
            records_check(records, domain.model_name)
        except PklError as exc:
            raise CommandError(str(exc)) from None
        self._pkl_matrix = np.array([r.embedding for r in records], dtype=np.float32)
        self._pkl_persons = [r.person_name for r in records]
        chosen = rng.choice(len(records), size=min(sample, len(records)), replace=False) if records else []
        return self._pkl_matrix[chosen], [self._pkl_persons[i] for i in chosen]

    def _pkl_agreement(self, vectors: np.ndarray, identities: list[str], domain: Domain) -> float:
        """Share of queries whose best person by our ANN search has the name the PKL's brute
        force gives (DeepFace's own ``find`` ranks the same way: cosine over every record)."""
        matrix = self._pkl_matrix / np.linalg.norm(self._pkl_matrix, axis=1, keepdims=True)
        agree = 0
        for vector in vectors:
            best = int(np.argmax(matrix @ (vector / np.linalg.norm(vector))))
            hits = FaceEmbedding.objects.nearest_persons(
                vector, domain_id=domain.id, model_name=domain.model_name, alignment=domain.alignment,
                threshold=domain.effective_threshold, top_k=1,
            )
            name = Person.objects.filter(id=hits[0].person_id).values_list("name", flat=True).first() if hits else None
            agree += name == self._pkl_persons[best]
        return agree / len(vectors)

    def _report(self, figures: dict, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(figures))
            return
        self.stdout.write(
            f"{figures['domain']} ({figures['model']}), {figures['queries']} queries from {figures['source']}:\n"
            f"  recall@{figures['k']} {figures['recall_at_k']:.4f} (worst query {figures['min_recall']:.2f}), "
            f"same answer {figures['match_agreement']:.4f}, "
            f"top-1 agreement {figures['top1_agreement']:.4f}, top-5 overlap {figures['top5_overlap']:.4f}"
            + (f", top-1 agreement with the PKL {figures['pkl_top1_agreement']:.4f}" if "pkl_top1_agreement" in figures else "")
            + f"\n  latency ANN p50 {figures['ann_p50_ms']:.2f} ms / p95 {figures['ann_p95_ms']:.2f} ms, "
            f"exact p50 {figures['exact_p50_ms']:.2f} ms / p95 {figures['exact_p95_ms']:.2f} ms"
        )
