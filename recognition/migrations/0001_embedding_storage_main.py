"""Keep face vectors inline in the table's pages.

A 512-d vector takes 2,056 bytes, just over PostgreSQL's TOAST threshold (~2 kB), so with the
default EXTENDED storage every ArcFace/Facenet512 vector was moved to the TOAST table and each
distance computed by a search (the HNSW scan rechecks distances on the heap row, and exact search
reads every row) cost an extra TOAST index lookup: ~2x slower searches of 512-d domains than of
128-d ones. MAIN keeps a value inline unless the row would not fit on a page at all (4,096-d
vectors still go out of line). Applies to rows written from now on; ``VACUUM FULL
gallery_faceembedding`` rewrites existing ones.

It lives in ``recognition`` (which owns search) rather than in ``gallery``'s migration chain.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("gallery", "0002_lifecycle")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE gallery_faceembedding ALTER COLUMN embedding SET STORAGE MAIN",
            "ALTER TABLE gallery_faceembedding ALTER COLUMN embedding SET STORAGE EXTENDED",
        )
    ]
