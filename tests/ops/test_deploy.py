"""deploy/: the systemd units verify, the nginx site parses and fits the app's limits, .env.example
lists every setting, and gunicorn with deploy/gunicorn.conf.py warms workers before traffic, sums
metrics over its workers and stops gracefully."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("facerec-web.service", "facerec-worker.service")


def _directives(unit: str) -> dict[str, list[str]]:
    text = (DEPLOY / "systemd" / unit).read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


# --- systemd ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_unit_has_the_operational_guarantees(unit):
    d = _directives(unit)
    assert d["Restart"] == ["on-failure"]
    assert int(d["StartLimitBurst"][0]) >= 3 and int(d["StartLimitIntervalSec"][0]) >= 60
    assert d["KillSignal"] == ["SIGTERM"] and d["KillMode"] == ["mixed"]
    assert d["EnvironmentFile"] == ["/etc/facerec/facerec.env"]
    assert d["StandardOutput"] == ["journal"] and d["StandardError"] == ["journal"]
    assert d["User"] == ["facerec"] and d["NoNewPrivileges"] == ["yes"] and d["ProtectSystem"] == ["strict"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/facerec/metrics" in d["Environment"]


def test_web_unit_outwaits_gunicorns_graceful_timeout():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    conf = module_from_spec(spec)
    spec.loader.exec_module(conf)
    stop = int(_directives("facerec-web.service")["TimeoutStopSec"][0])
    assert stop > conf.graceful_timeout
    assert not getattr(conf, "preload_app", False)  # TensorFlow/dlib must not be initialised before the fork


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    """The units as shipped, with /opt/facerec pointing at this checkout (verify checks that the
    commands exist) and the EnvironmentFile at a copy of .env.example."""
    env_file = tmp_path / "facerec.env"
    shutil.copy(DEPLOY / ".env.example", env_file)
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        text = text.replace("/opt/facerec", str(ROOT)).replace("/etc/facerec/facerec.env", str(env_file))
        (tmp_path / unit).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u) for u in UNITS)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # verify only warns about unknown keys and bad values: any output is a defect.
    relevant = [line for line in done.stderr.splitlines() if "facerec" in line]
    assert relevant == [], done.stderr


# --- .env.example -----------------------------------------------------------------------------


def _settings_read() -> set[str]:
    names = set()
    python_sources = [ROOT / "facerec" / "settings.py", DEPLOY / "gunicorn.conf.py", ROOT / "facerec" / "metrics.py"]
    for path in python_sources:
        text = path.read_text()
        names |= set(re.findall(r"\benv(?:bool|int|list)?\(\s*\"([A-Z][A-Z0-9_]+)\"", text))
        names |= set(re.findall(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z][A-Z0-9_]+)[\"']", text))
    for unit in UNITS:
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)\}", (DEPLOY / "systemd" / unit).read_text()))
    # Set by the code itself, for libraries; not settings an operator chooses.
    return names - {"DJANGO_SETTINGS_MODULE", "TF_CPP_MIN_LOG_LEVEL"}


def test_env_example_lists_every_setting():
    example = (DEPLOY / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    read = _settings_read()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "WEB_CONCURRENCY", "CELERY_QUEUES"} <= read
    missing = sorted(read - listed)
    assert missing == [], f"add these to deploy/.env.example: {missing}"


def test_env_example_loads_into_valid_settings():
    """The example's values are accepted by settings.py (the typed helpers fail loudly otherwise)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "CELERY", "CACHE"))}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env.update(DATABASE_URL=settings.DATABASE_URL, CELERY_BROKER_URL=settings.CELERY_BROKER_URL)
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_PROXY_SSL_HEADER, s.LOG_FORMAT, s.ALLOWED_HOSTS)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "facerec.settings"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "('HTTP_X_FORWARDED_PROTO', 'https') json ['facerec.example.com']" in done.stdout


# --- nginx ------------------------------------------------------------------------------------


def _nginx_value(directive: str) -> str:
    match = re.search(rf"^\s*{directive}\s+([^;]+);", (DEPLOY / "nginx" / "facerec.conf").read_text(), re.MULTILINE)
    assert match, directive
    return match.group(1).strip()


def test_nginx_limits_fit_the_app():
    body_max = int(_nginx_value("client_max_body_size").rstrip("m")) * 1024 * 1024
    assert body_max >= 2 * settings.MAX_UPLOAD_BYTES  # compare uploads two photos
    assert int(_nginx_value("proxy_read_timeout").rstrip("s")) > 60  # gunicorn's WEB_TIMEOUT decides first
    example = (DEPLOY / ".env.example").read_text()
    static_root = re.search(r"^STATIC_ROOT=(.+)$", example, re.MULTILINE).group(1)
    media_root = re.search(r"^MEDIA_ROOT=(.+)$", example, re.MULTILINE).group(1)
    conf = (DEPLOY / "nginx" / "facerec.conf").read_text()
    assert f"alias {static_root}/;" in conf and f"alias {media_root}/;" in conf
    accel = re.search(r"^MEDIA_X_ACCEL_REDIRECT=(.+)$", example, re.MULTILINE).group(1)
    protected = conf[conf.index(f"location {accel} {{"):]
    assert "internal;" in protected[: protected.index("}")]  # photos never served by URL
    assert "proxy_set_header X-Request-ID $request_id;" in conf


def _nginx_binary(cache: Path) -> str | None:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    # Unpack Debian's nginx without installing it (nothing is started, nothing lands in /usr).
    cache.mkdir(parents=True, exist_ok=True)
    download = ["apt-get", "download", "nginx"]
    if subprocess.run(download, cwd=cache, capture_output=True, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)  # a fresh machine
        subprocess.run(download, cwd=cache, capture_output=True, timeout=300)
    for deb in cache.glob("nginx_*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / "root")], capture_output=True, timeout=120)
    binary = cache / "root" / "usr" / "sbin" / "nginx"
    return str(binary) if binary.exists() else None


def test_nginx_site_passes_nginx_t(tmp_path_factory):
    work = tmp_path_factory.mktemp("nginx")
    binary = _nginx_binary(work / "deb")
    if binary is None:
        pytest.skip("no nginx binary (install nginx, or run as root with apt-get to unpack Debian's)")
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the test certificate")
    certs = work / "certs"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")], check=True, capture_output=True)
    site = (DEPLOY / "nginx" / "facerec.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/facerec.example.com/fullchain.pem", str(certs / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/facerec.example.com/privkey.pem", str(certs / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{work}/")
    (work / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"pid {work}/nginx.pid; error_log {work}/error.log; events {{}}\n"
        f"http {{ access_log off; {temp} include {work}/site.conf; }}\n"
    )
    done = subprocess.run([binary, "-t", "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


# --- gunicorn with deploy/gunicorn.conf.py ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_database_url() -> str:
    from django.db import connection

    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "WEB_GRACEFUL_TIMEOUT": "20",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
    }
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "facerec.wsgi"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _log_messages(log: Path) -> list[dict]:
    """The JSON log entries (LOG_FORMAT=json) of gunicorn and Django, in order."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def _first(entries: list[dict], pattern: str) -> int:
    return next(i for i, entry in enumerate(entries) if re.search(pattern, entry["message"]))


def test_gunicorn_warms_workers_sums_their_metrics_and_stops_gracefully(gunicorn, alpha, alice):
    from tests.conftest import add_photos, face_bytes

    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    process, url, log = gunicorn

    # The first request is sent at once: it waits in the listen backlog until a worker has warmed.
    first = requests.get(f"{url}/readyz", timeout=180)
    assert first.status_code == 200, first.text
    _wait_for(lambda: log.read_text().count("face models warmed") == 2, 180, "both workers to warm")
    entries = _log_messages(log)
    assert _first(entries, "face models warmed: Dlib/dlib") < _first(entries, '"GET /readyz HTTP/1.1" 200')
    assert _first(entries, r'"GET /readyz HTTP/1.1" 200 \d+ \d+ms request_id=[0-9a-f]{32}') >= 0
    # LOG_FORMAT=json: gunicorn's own lines are JSON objects too, not its plain "[INFO]" format.
    assert not [line for line in log.read_text().splitlines() if "] [INFO] " in line]

    # Metrics are summed over both workers' processes.
    for _ in range(6):
        assert requests.post(f"{url}/api/v1/recognize", timeout=60).status_code == 401
    metrics = requests.get(f"{url}/metrics", timeout=60).text
    assert 'facerec_recognize_requests_total{outcome="not_authenticated",route="api_v1"} 6.0' in metrics
    # Django's own log lines carry the request id of the request that caused them.
    refusals = [e for e in _log_messages(log) if e["logger"] == "django.request" and "Unauthorized" in e["message"]]
    assert len(refusals) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", e["request_id"]) for e in refusals)

    # SIGTERM while a recognize is in flight (its upload half sent, so a worker is busy with it):
    # it is answered in full, then gunicorn exits cleanly.
    prepared = requests.Request(
        "POST", f"{url}/api/v1/recognize", files={"image": ("s.jpg", face_bytes("selfie-many-people.jpg"))},
        headers={"Authorization": f"Bearer {alice.key}", "X-Request-ID": "graceful-stop-1", "Connection": "close"},
    ).prepare()
    head = f"POST /api/v1/recognize HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in prepared.headers.items()) + "\r\n"
    half = len(prepared.body) // 2
    with socket.create_connection(("127.0.0.1", urlsplit(url).port)) as conn:
        conn.sendall(head.encode() + prepared.body[:half])
        time.sleep(0.5)  # a worker has accepted the connection and waits for the rest of the body
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.sendall(prepared.body[half:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert process.wait(60) == 0
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer[:300]
    assert b"X-Request-ID: graceful-stop-1" in rest
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert len(json.loads(body)["faces"]) >= 3
    entries = _log_messages(log)
    assert _first(entries, "Handling signal: term") < _first(entries, '"POST /api/v1/recognize HTTP/1.1" 200')
    assert any(entry["message"] == "Shutting down: Master" for entry in _log_messages(log))
