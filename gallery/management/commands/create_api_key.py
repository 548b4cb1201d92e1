from django.core.management.base import CommandError

from gallery.management.base import GalleryCommand
from gallery.models import Domain
from gallery.services import api_key_create


class Command(GalleryCommand):
    help = "Create an API key scoped to domains. The key is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name to recognise the key by (who or what uses it)")
        parser.add_argument("--domains", required=True, help="Comma-separated domain slugs the key may use")
        parser.add_argument("--write", action="store_true", help="Allow writes (persons, photos), not only reads")

    def handle(self, *args, name, domains, write, **options):
        slugs = [slug.strip() for slug in domains.split(",") if slug.strip()]
        found = list(Domain.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {domain.slug for domain in found})
        if missing or not slugs:
            raise CommandError(f"unknown domain(s): {', '.join(missing) or '(none given)'}")
        key, secret = api_key_create(name=name, domains=found, can_write=write)
        access = "read-write" if write else "read-only"
        self.stderr.write(f"Created {access} key {key.prefix}… for {', '.join(sorted(slugs))}. It is shown only once:")
        self.stdout.write(secret)
