import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")

app = Celery("facerec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Signals, connected wherever this app is loaded: in every Celery worker (its pool processes are
# forked after this import) and in a web or command process before its first enqueue (gallery.tasks
# imports this module), so that a published task carries the request id. A process that never
# enqueues never imports Celery.
from celery import signals  # noqa: E402

from facerec import logging as request_logging  # noqa: E402
from facerec import metrics  # noqa: E402

# Metrics of the worker's pool processes (facerec/metrics.py).
signals.worker_init.connect(metrics.worker_metrics_serve, dispatch_uid="facerec-worker-metrics")
signals.worker_process_shutdown.connect(metrics.worker_process_exited, dispatch_uid="facerec-worker-exit")
signals.task_failure.connect(metrics.task_failed, dispatch_uid="facerec-metrics-task-failure")
signals.task_retry.connect(metrics.task_retried, dispatch_uid="facerec-metrics-task-retry")
# The request id travels from the request that enqueued a task to the task's log lines.
signals.before_task_publish.connect(request_logging.task_publishing, dispatch_uid="facerec-reqid-pub")
signals.task_prerun.connect(request_logging.task_starting, dispatch_uid="facerec-reqid-start")
signals.task_postrun.connect(request_logging.task_finished, dispatch_uid="facerec-reqid-end")
