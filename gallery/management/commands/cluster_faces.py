from django.core.management.base import CommandError

from gallery.management.base import GalleryCommand
from gallery.models import Domain
from gallery.services import clusters_update


class Command(GalleryCommand):
    help = (
        "Group a domain's unassigned faces (archive photos) into clusters of unknown people: the faces "
        "not in a cluster yet, or with --rebuild every face again (dismissed clusters are kept). Background "
        "tasks do this as photos arrive; this runs it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="Domain slug")
        parser.add_argument(
            "--rebuild", action="store_true",
            help="Dissolve the domain's clusters (not the dismissed ones) and cluster every unassigned face again",
        )

    def handle(self, *args, domain, rebuild, **options):
        target = Domain.objects.filter(slug=domain).first()
        if target is None:
            raise CommandError(f"no domain {domain!r}")
        result = clusters_update(domain=target, rebuild=rebuild)
        clusters = target.clusters.filter(dismissed=False, faces__isnull=False).distinct().count()
        suggested = target.clusters.filter(dismissed=False, suggestion__isnull=False).count()
        self.stdout.write(
            f"{target.slug}: clustered {result['faces']} face(s), merged {result['merged']} cluster(s); "
            f"{clusters} cluster(s), {suggested} suggesting an existing person"
        )
