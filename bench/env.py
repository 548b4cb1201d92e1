"""Where the benchmarks run: a database and media folder of their own, so the dev data is untouched.

With ``DATABASE_URL`` unset, the embedded PostgreSQL is started (or reused) and a separate
``facerec_bench`` database is created on it; with ``DATABASE_URL`` set, ``BENCH_DATABASE_URL``
must name the database to use. Every process the benchmarks start (gunicorn, ingest workers)
inherits these variables, so they all see the same gallery.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "facerec_bench"


def var_dir() -> Path:
    return Path(os.environ.get("FACEREC_VAR_DIR", ROOT / "var")).resolve()


def work_dir() -> Path:
    path = var_dir() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_bench_database(*, fresh: bool = False) -> str:
    """Point this process (and its children) at the bench database; call before django.setup()."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        if os.environ.get("DATABASE_URL"):
            raise SystemExit("DATABASE_URL is set: set BENCH_DATABASE_URL to a database the benchmarks may fill")
        from facerec import embedded

        url = _with_database(embedded.postgres_url(var_dir()), BENCH_DATABASE)
        _create_database(url, fresh=fresh)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("MEDIA_ROOT", str(work_dir() / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    # Benchmarks measure steady state: keep connections open between requests.
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    return url


def open_bench_database(*, fresh: bool = False) -> None:
    """What a benchmark's ``main`` starts with: the bench database (``use_bench_database``), Django
    set up on it, and its schema migrated to the code's."""
    use_bench_database(fresh=fresh)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _create_database(url: str, *, fresh: bool) -> None:
    import psycopg

    admin = _with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{BENCH_DATABASE}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
