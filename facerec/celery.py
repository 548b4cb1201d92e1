import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")

app = Celery("facerec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Metrics of the worker's pool processes (facerec/metrics.py); task signals are connected in
# FacerecConfig.ready, which runs in every worker process.
from celery import signals  # noqa: E402

from facerec import metrics  # noqa: E402

signals.worker_init.connect(metrics.worker_metrics_serve, dispatch_uid="facerec-worker-metrics")
signals.worker_process_shutdown.connect(metrics.worker_process_exited, dispatch_uid="facerec-worker-exit")
