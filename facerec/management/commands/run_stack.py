import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from celery.utils.nodenames import host_format
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from facerec import embedded, stack

# How long the web (its workers warm the models first) and the worker get to become ready before
# the next steps are printed anyway, with what is not ready.
READY_TIMEOUT_S = 300


class Command(BaseCommand):
    help = (
        "Run the whole service for development (`make run`): migrate, then a Celery worker and gunicorn on "
        "127.0.0.1:$PORT, with the embedded PostgreSQL and Valkey unless DATABASE_URL / CELERY_BROKER_URL are set. "
        "Once web and worker are ready it prints the login and next steps. Ctrl-C, SIGTERM or `make stop` (from "
        "another shell) stops everything it started: web and worker first, then the embedded servers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="Port (default $PORT or 8000)")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker")

    def handle(self, *args, port, web_workers, no_worker, **options):
        other = stack.running(settings.VAR_DIR)
        if other is not None:
            raise CommandError(f"make run is already running for {settings.VAR_DIR} (pid {other}); `make stop` stops it")
        self._stopping = False
        signal.signal(signal.SIGINT, self._stop_requested)
        signal.signal(signal.SIGTERM, self._stop_requested)
        stack.record(settings.VAR_DIR, {})  # from now on `make stop` finds this process
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        login = self._admin_login()
        self._metrics_dir()
        children: dict[str, subprocess.Popen] = {}
        worker_name = host_format("facerec@%h")
        try:
            if not no_worker and not self._stopping:
                children["worker"] = self._spawn([sys.executable, "-m", "celery", "-A", "facerec", "worker", "-l", "info",
                                                  "-n", worker_name, "--concurrency", "1", "-Q", self._queues()])
            if not self._stopping:
                env = {"PORT": str(port), "WEB_CONCURRENCY": str(web_workers)}
                children["web"] = self._spawn([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                               "facerec.wsgi"], env)
            stack.record(settings.VAR_DIR, {name: child.pid for name, child in children.items()})
            waiting = self._wait_ready(children, port, None if no_worker else worker_name)
            if waiting is not None:
                self._next_steps(port, login, waiting)
                self._wait(children)
        finally:
            self._stop(children)

    def _stop_requested(self, signum, frame):
        self._stopping = True

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
            return f"admin / {password_file.read_text().strip()}  (kept in {self._shown(password_file)})"
        return "admin / (the password you set; `manage.py changepassword admin` resets it)"

    def _spawn(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        # Each child in its own process group, so that Ctrl-C reaches it only through us.
        return subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=settings.BASE_DIR,
                                start_new_session=True)

    def _wait_ready(self, children: dict[str, subprocess.Popen], port: int, worker_name: str | None) -> str | None:
        """Wait until /readyz answers 200 and the worker answers a ping. Returns what is still not
        ready ("" when all is) once ready or after READY_TIMEOUT_S; None when stopping meanwhile."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        web = worker = None
        while not self._stopping and all(child.poll() is None for child in children.values()):
            web = web if web == "" else self._web_waiting(port)
            worker = worker if worker == "" else self._worker_waiting(worker_name)
            if (not web and not worker) or time.monotonic() > deadline:
                return "; ".join(part for part in (web, worker) if part)
            time.sleep(1)
        return None

    @staticmethod
    def _web_waiting(port: int) -> str:
        try:
            # A request sent while the workers warm their models waits in the listen backlog: a long
            # wait, rather than many abandoned requests answered (and logged) later; short enough
            # that a stop asked for meanwhile is noticed soon.
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10):
                return ""
        except urllib.error.HTTPError as exc:
            return f"web: /readyz answers {exc.code}: {exc.read().decode(errors='replace')[:300]}"
        except OSError as exc:
            return f"web: not answering on port {port} ({exc})"

    @staticmethod
    def _worker_waiting(worker_name: str | None) -> str:
        if worker_name is None:
            return ""
        from facerec.celery import app

        try:
            return "" if app.control.ping(destination=[worker_name], timeout=0.5) else "worker: not ready"
        except Exception as exc:  # noqa: BLE001 - the broker may not answer yet; so say
            return f"worker: {exc.__class__.__name__}: {exc}"

    def _next_steps(self, port: int, login: str, waiting: str) -> None:
        url = f"http://127.0.0.1:{port}"
        python = self._shown(Path(sys.executable))
        state = "ready" if not waiting else f"still starting after {READY_TIMEOUT_S}s ({waiting})"
        self.stdout.write(self.style.SUCCESS(f"\nfacerec is {state}: {url}/"))
        self.stdout.write(
            f"  admin       {url}/admin/   login {login}\n"
            f"  API docs    {url}/api/docs\n"
            f"  add people  {python} manage.py ingest_images DIR --domain SLUG   (a folder per person)\n"
            f"  API key     {python} manage.py create_api_key NAME --domains SLUG [--write]   (shown once)\n"
            "  stop        Ctrl-C here, or `make stop` in another shell\n"
        )

    @staticmethod
    def _shown(path: Path) -> str:
        """A path as the operator can type it from the project directory."""
        try:
            return str(path.relative_to(settings.BASE_DIR))
        except ValueError:
            return str(path)

    def _wait(self, children: dict[str, subprocess.Popen]) -> None:
        while not self._stopping and all(child.poll() is None for child in children.values()):
            time.sleep(0.5)

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        """Web and worker first (they finish what they are doing), then the embedded servers unless
        another process still uses them (facerec/embedded.py)."""
        for name, child in children.items():
            if child.poll() is not None:
                self.stderr.write(f"the {name} exited with code {child.returncode}: stopping everything")
        self.stdout.write("stopping…")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + stack.CHILD_GRACE_S
        for child in children.values():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        stack.forget(settings.VAR_DIR)
        stopped = embedded.release(settings.VAR_DIR)
        if stopped:
            self.stdout.write(f"stopped embedded {' and '.join(stopped)}")
        self.stdout.write("stopped")
