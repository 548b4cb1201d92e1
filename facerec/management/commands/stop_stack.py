from django.conf import settings
from django.core.management.base import BaseCommand

from facerec import embedded


class Command(BaseCommand):
    help = "Stop the embedded PostgreSQL and Valkey servers (`make stop`). Their data stays under var/."
    requires_system_checks = []

    def handle(self, *args, **options):
        stopped = embedded.stop_all(settings.VAR_DIR)
        self.stdout.write(f"stopped {' and '.join(stopped)}" if stopped else "nothing was running")
