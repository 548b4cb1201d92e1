"""gunicorn settings for facerec (`gunicorn -c deploy/gunicorn.conf.py facerec.wsgi`).

Each worker builds and warms the face model in `post_fork`, before it accepts its first request,
so no client ever pays the model load. Environment: PORT / BIND, WEB_CONCURRENCY, WEB_TIMEOUT.
"""

import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# A recognize on a large photo takes well under a second; a stuck worker is replaced after this.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so that no slow leak can accumulate (jitter avoids a stampede).
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
pidfile = os.environ.get("WEB_PIDFILE") or None


def post_fork(server, worker):
    from facerec.warmup import warm_models

    warm_models()
    server.log.info("worker %s: face model warmed", worker.pid)
