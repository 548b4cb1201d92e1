import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from facerec import embedded


class Command(BaseCommand):
    help = (
        "Run the whole service for development (`make run`): migrate, then a Celery worker and gunicorn on "
        "127.0.0.1:$PORT, with the embedded PostgreSQL and Valkey unless DATABASE_URL / CELERY_BROKER_URL are set. "
        "Ctrl-C or SIGTERM stops everything it started."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="Port (default $PORT or 8000)")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker")

    def handle(self, *args, port, web_workers, no_worker, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        login = self._admin_login()
        self._metrics_dir()
        children = []
        if not no_worker:
            children.append(self._spawn([sys.executable, "-m", "celery", "-A", "facerec", "worker", "-l", "info",
                                         "--concurrency", "1", "-Q", self._queues()]))
        env = {"PORT": str(port), "WEB_CONCURRENCY": str(web_workers)}
        children.append(self._spawn([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "facerec.wsgi"], env))
        self.stdout.write(self.style.SUCCESS(
            f"\nfacerec is starting on http://127.0.0.1:{port}/  (admin: http://127.0.0.1:{port}/admin/)\n"
            f"  admin login: {login}\n"
            "  API key:     python manage.py create_api_key NAME --domains SLUG [--write]  (printed once)\n"
            "  Ctrl-C stops everything.\n"
        ))
        self._wait(children)

    def _metrics_dir(self) -> None:
        # gunicorn and Celery run several processes: /metrics sums their samples from this directory
        # (facerec/metrics.py). It starts empty, as the processes writing to it do.
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            directory = settings.VAR_DIR / "metrics"
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

    @staticmethod
    def _queues() -> str:
        return ",".join(settings.FACEREC_QUEUE_PREFIX + name for name in ("celery", "interactive", "bulk"))

    def _admin_login(self) -> str:
        User = get_user_model()
        password_file = settings.VAR_DIR / "admin_password"
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@localhost", password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        if password_file.exists():
            return f"admin / {password_file.read_text().strip()}  (kept in {password_file})"
        return "admin / (the password you set; `python manage.py changepassword admin` resets it)"

    def _spawn(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        # Each child in its own process group, so that Ctrl-C reaches it only through us.
        return subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=settings.BASE_DIR,
                                start_new_session=True)

    def _wait(self, children: list[subprocess.Popen]) -> None:
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
        self.stdout.write("stopping…")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
        if not os.environ.get("DATABASE_URL") and not os.environ.get("CELERY_BROKER_URL"):
            stopped = embedded.stop_all(settings.VAR_DIR)
            if stopped:
                self.stdout.write(f"stopped embedded {' and '.join(stopped)}")
        self.stdout.write("stopped")
