"""Alignments and vector spaces (README, Decisions).

Existing domains and their vectors were made from DeepFace's crop: they are marked ``deepface``, so
they answer exactly as before until an operator switches them. Each face's space is (model,
alignment): the unique constraint and the btree index take the alignment, and every partial HNSW
index is rebuilt with the alignment in its name and predicate (gallery.indexes).
"""

from django.db import migrations, models

ALIGNMENT_CHOICES = [
    ("dlib_chip", "dlib 5-point face chip (what dlib's ResNet was trained on)"),
    ("deepface", "DeepFace crop-and-rotate (matches a DeepFace find() gallery)"),
]


def rebuild_indexes(apps, schema_editor):
    from gallery import indexes

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'face_hnsw_%%'")
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    for domain in apps.get_model("gallery", "Domain").objects.all():
        spaces = {(domain.model_name, domain.alignment)}
        if domain.pending_model:
            spaces.add((domain.pending_model, domain.pending_alignment))
        for model_name, alignment in spaces:
            indexes.vector_index_ensure(domain_id=domain.pk, model_name=model_name, alignment=alignment)


class Migration(migrations.Migration):
    dependencies = [("gallery", "0004_face_quality")]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="alignment",
            field=models.CharField(choices=ALIGNMENT_CHOICES, default="deepface", max_length=20),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="domain",
            name="alignment",
            field=models.CharField(
                blank=True,
                choices=ALIGNMENT_CHOICES,
                help_text="How faces are cropped for the model; empty: the model's native alignment",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="domain",
            name="pending_alignment",
            field=models.CharField(blank=True, choices=ALIGNMENT_CHOICES, max_length=20),
        ),
        migrations.AddField(
            model_name="faceembedding",
            name="alignment",
            field=models.CharField(choices=ALIGNMENT_CHOICES, default="deepface", max_length=20),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE gallery_domain SET pending_alignment = 'deepface' WHERE pending_model <> ''",
            migrations.RunSQL.noop,
        ),
        migrations.RemoveConstraint(model_name="faceembedding", name="one_face_per_photo_and_model"),
        migrations.AddConstraint(
            model_name="faceembedding",
            constraint=models.UniqueConstraint(
                fields=("photo", "model_name", "alignment"), name="one_face_per_photo_and_space"
            ),
        ),
        migrations.RemoveIndex(model_name="faceembedding", name="face_domain_model"),
        migrations.AddIndex(
            model_name="faceembedding",
            index=models.Index(fields=["domain", "model_name", "alignment"], name="face_domain_space"),
        ),
        migrations.RunPython(rebuild_indexes, migrations.RunPython.noop),
    ]
