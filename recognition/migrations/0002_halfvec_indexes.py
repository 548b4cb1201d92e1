"""Rebuild the per-(domain, model) HNSW indexes over half-precision copies of the vectors.

Searches now order by ``embedding::halfvec(dim)`` (gallery.querysets), which an index over
``embedding::vector(dim)`` cannot serve; without this rebuild they would still be right (an exact
scan) but slow. Each index is dropped here; gallery's 0005_alignment builds every domain's index again (named and
filtered by vector space), whichever of the two runs first.
"""

import re

from django.db import migrations

_NAME = re.compile(r"^face_hnsw_d(?P<domain>\d+)_(?P<model>[a-z0-9]+)$")


def rebuild(apps, schema_editor):
    from faces.models_zoo import MODEL_DIMENSIONS

    models = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in MODEL_DIMENSIONS}
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'face_hnsw_%%'")
        rows = cursor.fetchall()
    for name, definition in rows:
        match = _NAME.match(name)
        if not match or "halfvec" in definition or match["model"] not in models:
            continue
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("recognition", "0001_embedding_storage_main")]

    operations = [migrations.RunPython(rebuild, migrations.RunPython.noop)]
