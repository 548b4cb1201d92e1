from django.conf import settings
from django.core.management.base import BaseCommand

from facerec import embedded, stack


class Command(BaseCommand):
    help = (
        "Stop everything `make run` started (`make stop`): run_stack, its web (gunicorn) and worker (Celery) first, "
        "then the embedded Valkey and PostgreSQL, whoever uses them. Their data stays under var/. Starts nothing."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        # manage.py does not start the embedded servers for this command (embedded.autostart).
        var_dir = settings.VAR_DIR
        servers = [name for name, running in (("valkey", embedded.valkey_running(var_dir)),
                                              ("postgresql", embedded.postgres_running(var_dir))) if running]
        processes = stack.stop(var_dir)  # run_stack stops the servers too, unless something else uses them
        embedded.stop_all(var_dir)
        stopped = processes + servers
        self.stdout.write(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
