"""facerec settings: one file, driven by environment variables (see deploy/.env.example).

Without ``DATABASE_URL`` / ``CELERY_BROKER_URL`` the embedded PostgreSQL + pgvector and Valkey
servers under ``var/`` are started or reused (facerec/embedded.py); production sets both URLs and
the code path is otherwise identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from facerec.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    """A setting from the environment, or from the file named by ``NAME_FILE`` (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = (env(name, default) or "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def envint(name: str, default: str) -> int:
    value = env(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


VAR_DIR = Path(env("FACEREC_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = envbool("DEBUG", "false")
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    # Development only: a key generated once and kept under var/. Production sets SECRET_KEY.
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        from django.core.management.utils import get_random_secret_key

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        _key_file.write_text(get_random_secret_key())
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
# Behind nginx terminating TLS (deploy/nginx/facerec.conf): trust its X-Forwarded-Proto and send
# the session and CSRF cookies over HTTPS only.
BEHIND_HTTPS_PROXY = envbool("BEHIND_HTTPS_PROXY", "false")
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: no CDN needed
    "facerec",
    "gallery",
    "recognition",
]

MIDDLEWARE = [
    "facerec.logging.RequestIdMiddleware",  # first, so that every later log line carries the id
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "gallery.middleware.ActorMiddleware",  # who a change is recorded as (the audit trail)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "facerec.errors.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "facerec.urls"
WSGI_APPLICATION = "facerec.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    from facerec import embedded

    DATABASE_URL = embedded.postgres_url(VAR_DIR)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", "60"))}
DATABASES["default"].setdefault("TEST", {})["NAME"] = env("TEST_DATABASE_NAME", "test_facerec")
# Scale-out: searches read from a streaming replica when one is given (facerec/routers.py).
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=envint("DB_CONN_MAX_AGE", "60"))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["facerec.routers.SearchReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
if not CELERY_BROKER_URL:
    from facerec import embedded

    CELERY_BROKER_URL = embedded.broker_url(VAR_DIR)
CELERY_TASK_ACKS_LATE = True  # a task whose worker is killed is redelivered and redone
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With acks_late, a message whose worker was killed is delivered again once this many seconds have
# passed without an ack. It must exceed the longest task (a batch of embeddings takes seconds; a
# redelivery of a task still running is harmless anyway: tasks are idempotent).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "600")}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker's stdout/stderr stay plain streams. Celery's default turns every write() to them into a
# log record of its own, and the interpreter writes a traceback's caret lines one character per
# write: one crash became ~1,600 log lines of one character each. Log records still go through LOGGING.
CELERY_WORKER_REDIRECT_STDOUTS = False
# Gallery tasks go to "<prefix>interactive" (uploads) and "<prefix>bulk" (batches, model switches);
# a prefix lets several deployments or test runs share one broker.
FACEREC_QUEUE_PREFIX = env("FACEREC_QUEUE_PREFIX", "") or ""
# Routes for tasks sent without an explicit queue (gallery.tasks.dispatch names one itself, with
# the prefix): "interactive" for embedding a client waits for, "bulk" for ingest batches,
# re-embedding and clean-up (hours of work that must not delay the former), "celery" for the rest.
# New tasks follow by name: put "batch", "bulk" or "reembed" in a bulk task's name.
# Production runs a worker per queue (deploy/README.md, "Scaling out").
CELERY_TASK_DEFAULT_QUEUE = f"{FACEREC_QUEUE_PREFIX}celery"
CELERY_TASK_ROUTES = {
    "gallery.*bulk*": {"queue": f"{FACEREC_QUEUE_PREFIX}bulk"},
    "gallery.*batch*": {"queue": f"{FACEREC_QUEUE_PREFIX}bulk"},
    "gallery.*reembed*": {"queue": f"{FACEREC_QUEUE_PREFIX}bulk"},
    "gallery.delete_files": {"queue": f"{FACEREC_QUEUE_PREFIX}bulk"},
    "gallery.cluster_faces": {"queue": f"{FACEREC_QUEUE_PREFIX}bulk"},
    "gallery.*": {"queue": f"{FACEREC_QUEUE_PREFIX}interactive"},
}
# Log through Django's LOGGING (request ids, LOG_FORMAT=json) instead of Celery's own set-up.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Cache (throttle counters) ------------------------------------------------------------------
# CACHE_URL defaults to database 1 of the broker's Redis/Valkey server (the broker uses 0, and a
# cache clear must never drop queued tasks): one counter per key across all workers.
def _cache_url_from_broker(broker: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    if broker.startswith("redis+socket://"):
        return "unix://" + broker.removeprefix("redis+socket://").split("?")[0] + "?db=1"
    parts = urlsplit(broker)
    return urlunsplit((parts.scheme, parts.netloc, "/1", parts.query, ""))


CACHE_URL = env("CACHE_URL") or _cache_url_from_broker(CELERY_BROKER_URL)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}

# --- Files ------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT") or VAR_DIR / "static")
if not env("STATIC_ROOT"):
    # Development: whitenoise warns on every request without the folder. Production sets
    # STATIC_ROOT and fills it with collectstatic; a web process need not be able to create it.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
# Face photos are served to staff only, through facerec/media.py. Behind nginx, set this to its
# `internal` location (deploy/nginx/facerec.conf: /protected-media/) so that nginx sends the bytes.
MEDIA_X_ACCEL_REDIRECT = env("MEDIA_X_ACCEL_REDIRECT", "") or ""
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # `make run` serves admin assets without a collectstatic step

# Uploads: photos above this size are refused with 413 before they are decoded.
MAX_UPLOAD_BYTES = envint("MAX_UPLOAD_BYTES", str(20 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024

# --- Face pipeline ----------------------------------------------------------------------------
# DeepFace looks for weights in $DEEPFACE_HOME/.deepface/weights; the bundled Dlib files are
# placed there by `manage.py facerec_models --install` (run by the Makefile).
DEEPFACE_HOME = Path(env("DEEPFACE_HOME", str(VAR_DIR / "deepface")))
os.environ["DEEPFACE_HOME"] = str(DEEPFACE_HOME)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One BLAS thread per process (read when dlib's and numpy's OpenBLAS load, after settings): a web or Celery
# worker runs one photo at a time and there is one worker per core, so extra BLAS threads would
# only compete with the other workers for the cores (and spin while they wait).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
FACEREC_DEFAULT_MODEL = env("FACEREC_DEFAULT_MODEL", "Dlib")
FACEREC_DEFAULT_DETECTOR = env("FACEREC_DEFAULT_DETECTOR", "dlib")
# Images are scaled so that their longest side is at most this many pixels before detection.
FACEREC_MAX_IMAGE_SIDE = envint("FACEREC_MAX_IMAGE_SIDE", "640")
# Decompression-bomb guard: images with more pixels than this are refused.
FACEREC_MAX_IMAGE_PIXELS = envint("FACEREC_MAX_IMAGE_PIXELS", str(50_000_000))
# Load the default model when a process starts (web workers, Celery workers) instead of at the
# first request.
FACEREC_WARM_MODELS = envbool("FACEREC_WARM_MODELS", "false")

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gallery.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gallery.auth.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "facerec.errors.api_exception_handler",
    # Per API key, counted in the shared cache so that every web worker sees the same count.
    "DEFAULT_THROTTLE_CLASSES": ["gallery.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_THROTTLE_RATE", "1200/min")},
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "facerec.openapi_schema.AutoSchema",  # loaded only for a schema (facerec/openapi.py)
}

SPECTACULAR_SETTINGS = {
    "TITLE": "facerec API",
    "DESCRIPTION": (
        "Self-hosted face recognition. Errors are always `{\"error\": {\"code\", \"message\"}}` with the "
        "status listed per operation. Authenticate with an API key: `Authorization: Bearer <key>`."
    ),
    "VERSION": "1",
    "DEFAULT_GENERATOR_CLASS": "facerec.openapi_schema.SchemaGenerator",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several answers have a "status" field with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "PhotoStatusEnum": "gallery.models.FacePhoto.Status",
        "TaskStatusEnum": "gallery.models.GalleryTask.Status",
        "ReadinessStatusEnum": ["ready", "not_ready"],
        "LegacyStatusEnum": ["success"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "facerec.openapi.add_common_errors",
    ],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/"

# --- Logs and metrics -------------------------------------------------------------------------
# LOG_FORMAT=json writes one JSON object per line (for journald/Loki/ELK); every line carries the
# request id (X-Request-ID).
LOG_FORMAT = env("LOG_FORMAT", "plain")
LOGGING = logging_config(fmt=LOG_FORMAT, level=(env("LOG_LEVEL", "INFO") or "INFO").upper())  # gunicorn takes it lower case too
# PROMETHEUS_MULTIPROC_DIR (read from the environment by prometheus_client itself) makes /metrics
# sum the samples of all gunicorn and Celery processes of the machine; see facerec/metrics.py.
