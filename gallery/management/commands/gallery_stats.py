from django.core.management.base import CommandError
from django.db.models import Count

from gallery import services
from gallery.management.base import GalleryCommand
from gallery.models import Domain, FaceEmbedding, FacePhoto
from gallery.services.orphans import ORPHAN_GRACE_S


class Command(GalleryCommand):
    help = (
        "Persons, photos (by status) and face embeddings per domain and model, and the orphans: photo "
        "files in MEDIA_ROOT that no photo names, and photos whose file is missing (gallery/services/orphans.py)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", help="Only this domain (slug): its rows and its folder of MEDIA_ROOT")
        parser.add_argument(
            "--remove-orphans", action="store_true",
            help="Delete orphan files older than --grace, and mark photos whose file is missing 'failed' with "
                 "a reason (never deleted: their faces still answer searches)",
        )
        parser.add_argument(
            "--grace", type=int, default=ORPHAN_GRACE_S, metavar="SECONDS",
            help="A file without a row younger than this is not removed: its upload may not have committed yet "
                 "(default %(default)s)",
        )

    def handle(self, *args, domain, remove_orphans, grace, **options):
        domains = Domain.objects.annotate(n_persons=Count("persons", distinct=True)).order_by("slug")
        if domain:
            domains = domains.filter(slug=domain)
            if not domains:
                raise CommandError(f"no domain {domain!r}")
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
        self._orphans(domain=domains[0] if domain else None, remove=remove_orphans, grace=grace)

    def _orphans(self, *, domain: Domain | None, remove: bool, grace: int) -> None:
        orphans = services.orphans_find(domain=domain, grace_s=grace)
        for name in orphans.files:
            self.stdout.write(f"orphan file (no photo row): {name}")
        for name in orphans.recent_files:
            self.stdout.write(f"file without a row, younger than {grace}s (an upload in flight?), left alone: {name}")
        for photo in FacePhoto.objects.filter(pk__in=orphans.photo_ids).select_related("domain"):
            self.stdout.write(f"photo {photo.pk} ({photo.domain.slug}, person {photo.person_id}) has no file: {photo.image.name}")
        self.stdout.write(
            f"orphans: {len(orphans.files)} file(s) without a row (+{len(orphans.recent_files)} recent), "
            f"{len(orphans.photo_ids)} photo(s) without a file"
        )
        if remove:
            deleted, marked = services.orphans_remove(orphans=orphans)
            self.stdout.write(f"removed {deleted} orphan file(s); marked {marked} photo(s) without a file failed")

    @staticmethod
    def _by_domain(rows) -> dict[int, dict[str, int]]:
        key = "status" if "status" in rows.query.values_select else "model_name"
        result: dict[int, dict[str, int]] = {}
        for row in rows.annotate(n=Count("id")).order_by():
            result.setdefault(row["domain_id"], {})[row[key]] = row["n"]
        return result
