"""Archives: photos without a person, every face of them kept unassigned, clusters of unknown people.

Tenancy stays enforced by the database. Migration 0003's face key (photo, person, domain) ->
photo (id, person, domain) cannot hold a face whose photo has no person but that was given to one
(a group photo's faces go to different persons), and a foreign key with a NULL column is not
checked at all (MATCH SIMPLE). It is replaced by keys that hold whether or not a face has a person:

- ``face_photo_same_domain``: face (photo, domain) -> photo (id, domain), always checked;
- ``face_person_same_domain``: face (person, domain) -> person (id, domain), when it has a person;
- ``face_cluster_same_domain``: face (cluster, domain) -> cluster (id, domain), when it has a cluster;
- ``cluster_suggestion_same_domain``: cluster (suggestion, domain) -> person (id, domain);
- "a person's photo's faces are that person's", which the old key also said, is a constraint
  trigger (``gallery_face_is_its_photos_persons``, deferrable like the keys), and a photo given to
  another person takes its faces along (``gallery_photo_person_to_faces``, what ``ON UPDATE
  CASCADE`` did).

Every domain's persons' HNSW index is rebuilt with ``person_id IS NOT NULL`` in its predicate, next
to a new graph of its unassigned faces (gallery.indexes): recognize never walks unassigned faces.
"""

import django.db.models.deletion
from django.db import migrations, models

OLD_FACE_FK = "faceembedding_photo_same_person_domain"
KEYS = [
    ("gallery_faceembedding", "face_photo_same_domain", "(photo_id, domain_id)", "gallery_facephoto (id, domain_id)"),
    ("gallery_faceembedding", "face_person_same_domain", "(person_id, domain_id)", "gallery_person (id, domain_id)"),
    ("gallery_faceembedding", "face_cluster_same_domain", "(cluster_id, domain_id)", "gallery_facecluster (id, domain_id)"),
    ("gallery_facecluster", "cluster_suggestion_same_domain", "(suggestion_id, domain_id)", "gallery_person (id, domain_id)"),
]

TRIGGERS = """
CREATE FUNCTION gallery_face_is_its_photos_persons() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gallery_facephoto ph WHERE ph.id = NEW.photo_id
               AND ph.person_id IS NOT NULL AND ph.person_id IS DISTINCT FROM NEW.person_id) THEN
        RAISE foreign_key_violation USING MESSAGE = format(
            'face %s (person %s) is not its photo %s''s person', NEW.id, NEW.person_id, NEW.photo_id);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER gallery_face_is_its_photos_persons
    AFTER INSERT OR UPDATE OF person_id, photo_id ON gallery_faceembedding
    DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION gallery_face_is_its_photos_persons();
CREATE FUNCTION gallery_photo_person_to_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gallery_faceembedding SET person_id = NEW.person_id WHERE photo_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER gallery_photo_person_to_faces
    AFTER UPDATE OF person_id ON gallery_facephoto FOR EACH ROW
    WHEN (NEW.person_id IS NOT NULL AND NEW.person_id IS DISTINCT FROM OLD.person_id)
    EXECUTE FUNCTION gallery_photo_person_to_faces();
"""
DROP_TRIGGERS = """
DROP TRIGGER gallery_photo_person_to_faces ON gallery_facephoto;
DROP FUNCTION gallery_photo_person_to_faces();
DROP TRIGGER gallery_face_is_its_photos_persons ON gallery_faceembedding;
DROP FUNCTION gallery_face_is_its_photos_persons();
"""


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

    dependencies = [
        ('gallery', '0007_recognize_batch'),
    ]

    operations = [
        migrations.CreateModel(
            name='FaceCluster',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dismissed', models.BooleanField(default=False)),
                ('curated', models.BooleanField(default=False)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('updated', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='faceembedding',
            name='one_face_per_photo_and_space',
        ),
        migrations.AddField(
            model_name='faceembedding',
            name='position',
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='faceembedding',
            name='person',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='faces', to='gallery.person'),
        ),
        migrations.AlterField(
            model_name='facephoto',
            name='person',
            field=models.ForeignKey(blank=True, help_text='Empty: an archive photo, whose faces are assigned one by one', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='photos', to='gallery.person'),
        ),
        migrations.AlterField(
            model_name='gallerytask',
            name='kind',
            field=models.CharField(choices=[('embed_photo', 'Embed Photo'), ('embed_batch', 'Embed Batch'), ('reembed_domain', 'Reembed Domain'), ('delete_files', 'Delete Files'), ('ingest', 'Ingest'), ('import_pkl', 'Import Pkl'), ('recognize_batch', 'Recognize Batch'), ('cluster_faces', 'Cluster Faces')], max_length=20),
        ),
        migrations.AddConstraint(
            model_name='facephoto',
            constraint=models.UniqueConstraint(fields=('id', 'domain'), name='photo_id_domain_unique'),
        ),
        migrations.AddField(
            model_name='facecluster',
            name='domain',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clusters', to='gallery.domain'),
        ),
        migrations.AddField(
            model_name='facecluster',
            name='suggestion',
            field=models.ForeignKey(blank=True, help_text="A person of the domain whose centroid is within the threshold of the cluster's", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='gallery.person'),
        ),
        migrations.AddField(
            model_name='faceembedding',
            name='cluster',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='faces', to='gallery.facecluster'),
        ),
        migrations.AddIndex(
            model_name='faceembedding',
            index=models.Index(condition=models.Q(('cluster__isnull', False)), fields=['cluster'], name='face_cluster'),
        ),
        migrations.AddConstraint(
            model_name='faceembedding',
            constraint=models.UniqueConstraint(fields=('photo', 'model_name', 'alignment', 'position'), name='one_face_per_photo_position_and_space'),
        ),
        migrations.AddConstraint(
            model_name='facecluster',
            constraint=models.UniqueConstraint(fields=('id', 'domain'), name='cluster_id_domain_unique'),
        ),
        migrations.RunSQL(
            f"ALTER TABLE gallery_faceembedding DROP CONSTRAINT {OLD_FACE_FK}",
            f"ALTER TABLE gallery_faceembedding ADD CONSTRAINT {OLD_FACE_FK} FOREIGN KEY (photo_id, person_id, domain_id) "
            "REFERENCES gallery_facephoto (id, person_id, domain_id) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE",
        ),
        *(
            migrations.RunSQL(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} REFERENCES {target} "
                "DEFERRABLE INITIALLY IMMEDIATE",
                f"ALTER TABLE {table} DROP CONSTRAINT {name}",
            )
            for table, name, columns, target in KEYS
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.RunPython(rebuild_indexes, migrations.RunPython.noop, elidable=False),
    ]
