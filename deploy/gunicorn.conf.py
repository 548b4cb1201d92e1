"""gunicorn settings for facerec (`gunicorn -c deploy/gunicorn.conf.py facerec.wsgi`).

Each worker builds and warms the face models in `post_fork`, before it accepts its first request,
so no client ever pays the model load (the master keeps the socket open meanwhile; connections
wait in its backlog instead of being refused). The app is not preloaded in the master: TensorFlow
and dlib must not be initialised before a fork.

Environment (see deploy/.env.example): BIND or PORT, WEB_CONCURRENCY, WEB_TIMEOUT,
WEB_GRACEFUL_TIMEOUT, WEB_KEEPALIVE, WEB_MAX_REQUESTS, WEB_PIDFILE, FORWARDED_ALLOW_IPS,
LOG_LEVEL, LOG_FORMAT, PROMETHEUS_MULTIPROC_DIR.
"""

import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Each worker holds its own copy of the model (~150 MB RSS in all when every domain is Dlib, which
# imports no TensorFlow; ~1 GB with TensorFlow models) and a recognize keeps one core busy: one
# worker per core (`make bench`'s throughput row measures 1, 2 and 4 clients against this default).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"  # nginx buffers uploads, so slow clients never hold a sync worker
# A recognize on a large photo takes well under a second; a stuck worker is replaced after this.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
# On SIGTERM, workers finish the requests in flight for up to this long (systemd waits longer).
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
# Recycle workers now and then so that no slow leak can accumulate (jitter avoids a stampede).
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "5000"))
max_requests_jitter = max(1, max_requests // 10)
# nginx on the same host sets X-Forwarded-For/-Proto; trust only it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The worker heartbeat file on tmpfs: a disk-backed /tmp can stall and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
pidfile = os.environ.get("WEB_PIDFILE") or None
proc_name = "facerec-web"

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The request id is the one Django echoes (X-Request-ID), so access and app lines can be joined.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
if os.environ.get("LOG_FORMAT", "plain") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "facerec.logging.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)


def post_fork(server, worker):
    from facerec.warmup import gc_deferred, malloc_trim, malloc_tune, warm_models, warm_web

    malloc_tune()  # see facerec/warmup.py
    with gc_deferred():  # no collections during the start-up; its objects frozen after it
        warmed = warm_models()
        warm_web()
    malloc_trim()  # the start-up's freed memory (imports, model loading) back to the kernel
    server.log.info("worker %s: face models warmed: %s", worker.pid, ", ".join("/".join(p) for p in warmed) or "none")


def child_exit(server, worker):
    # Multiprocess metrics: the dead worker's counters stay summed; its live gauges are dropped.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_int(worker):
    worker.log.info("worker %s: interrupted, finishing in-flight requests", worker.pid)
