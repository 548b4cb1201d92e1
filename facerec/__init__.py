"""The project package. The Celery app (facerec/celery.py) is not imported here: a web worker that
only answers recognize requests never needs Celery (~10 MB of modules per worker). ``celery -A
facerec`` finds the app in facerec.celery by itself, and gallery.tasks imports it before it enqueues."""


def __getattr__(name: str):
    if name == "celery_app":  # the conventional name, still available, on first use
        from facerec.celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["celery_app"]
