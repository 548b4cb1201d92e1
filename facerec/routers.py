"""Send search reads to a PostgreSQL read replica (``DATABASE_REPLICA_URL``), everything else to the primary.

Only the vector reads of a search go to the replica: the nearest-neighbour query over face
embeddings and the centroids of the persons it found. A replica lags the primary by its
replication delay, so routing every read there would break read-your-writes for the admin and
the gallery API (a person just created could 404 on the next request); a search that misses a
photo added a few milliseconds ago is acceptable, and is the trade-off documented in
deploy/README.md.

A removal is not traded off: the persons a search found are confirmed on the primary (one
primary-key lookup, ``recognition.services.persons_confirmed``), so a person removed there is never
named, however far behind the replica is.

Reads inside a transaction on the primary stay there, so code that writes and then searches in
one transaction sees its own writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

REPLICA = "replica"
# Models whose reads are search reads: the embedding search. (The persons it returns are read on
# the primary: recognition.services.persons_confirmed.)
SEARCH_MODELS = {("gallery", "faceembedding")}


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class SearchReplicaRouter:
    def db_for_read(self, model, **hints):
        if (model._meta.app_label, model._meta.model_name) not in SEARCH_MODELS:
            return None
        if not _searching() or not replica_configured():
            return None
        if connections["default"].in_atomic_block:
            return None
        return REPLICA

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA


# --- Which reads are search reads -------------------------------------------------------------

_search: ContextVar[bool] = ContextVar("facerec_search_reads", default=False)


def _searching() -> bool:
    return _search.get()


@contextmanager
def search_reads() -> Iterator[None]:
    """Within this block, reads of face embeddings may be served by the replica."""
    token = _search.set(True)
    try:
        yield
    finally:
        _search.reset(token)
