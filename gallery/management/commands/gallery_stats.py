from django.core.management.base import BaseCommand
from django.db.models import Count

from gallery.models import Domain, FaceEmbedding, FacePhoto


class Command(BaseCommand):
    help = "Persons, photos (by status) and face embeddings per domain and model."

    def add_arguments(self, parser):
        parser.add_argument("--domain", help="Only this domain (slug)")

    def handle(self, *args, domain, **options):
        domains = Domain.objects.annotate(n_persons=Count("persons", distinct=True)).order_by("slug")
        if domain:
            domains = domains.filter(slug=domain)
        photos = self._by_domain(FacePhoto.objects.values("domain_id", "status"))
        faces = self._by_domain(FaceEmbedding.objects.values("domain_id", "model_name"))
        header = f"{'domain':<20} {'model':<22} {'persons':>8} {'photos':>8} {'faces':>8}  photo status"
        self.stdout.write(header)
        totals = [0, 0, 0]
        for item in domains:
            statuses = photos.get(item.id, {})
            models = faces.get(item.id, {})
            n_photos = sum(statuses.values())
            serving = item.model_name + (f" (→{item.pending_model})" if item.pending_model else "")
            status_text = ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())) or "-"
            self.stdout.write(
                f"{item.slug:<20} {serving:<22} {item.n_persons:>8} {n_photos:>8} "
                f"{models.get(item.model_name, 0):>8}  {status_text}"
            )
            for model_name, n in sorted(models.items()):
                if model_name != item.model_name:
                    self.stdout.write(f"{'':<20} {model_name + ' (not serving)':<22} {'':>8} {'':>8} {n:>8}")
            totals = [totals[0] + item.n_persons, totals[1] + n_photos, totals[2] + sum(models.values())]
        self.stdout.write(
            f"{len(domains)} domain(s): {totals[0]} person(s), {totals[1]} photo(s), {totals[2]} face embedding(s)"
        )

    @staticmethod
    def _by_domain(rows) -> dict[int, dict[str, int]]:
        key = "status" if "status" in rows.query.values_select else "model_name"
        result: dict[int, dict[str, int]] = {}
        for row in rows.annotate(n=Count("id")).order_by():
            result.setdefault(row["domain_id"], {})[row[key]] = row["n"]
        return result
