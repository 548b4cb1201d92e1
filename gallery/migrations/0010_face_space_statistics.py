"""Extended statistics on a face's vector space (domain, model, alignment).

The planner multiplied the three columns' selectivities as if independent, so a domain whose model
few other domains share (the bench's 30k 512-d domain among 377k faces) was estimated at ~24 rows
instead of 30,000: it chose a hash join and an exact sort (90 ms) over the domain's HNSW graph
(~5 ms). With functional-dependency and most-common-value statistics on the three columns it
estimates each space's size and walks the graph.
"""

from django.db import migrations

SQL = """
CREATE STATISTICS IF NOT EXISTS gallery_faceembedding_space (dependencies, mcv)
    ON domain_id, model_name, alignment FROM gallery_faceembedding;
ANALYZE gallery_faceembedding;
"""


class Migration(migrations.Migration):
    dependencies = [("gallery", "0009_shadow_mode")]

    operations = [
        migrations.RunSQL(SQL, reverse_sql="DROP STATISTICS IF EXISTS gallery_faceembedding_space;"),
    ]
