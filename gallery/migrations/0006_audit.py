"""The audit trail (gallery.services.audit): its table, and a trigger that makes it append-only.

The trigger refuses UPDATE and DELETE of audit rows from any client, the app's own included, unless
the transaction set ``facerec.audit_purge`` to ``on`` (``audit_purge``, the retention path). TRUNCATE
is left to the table's owner (test databases are flushed with it)."""

from django.db import migrations, models

APPEND_ONLY = """
CREATE FUNCTION gallery_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('facerec.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER gallery_auditevent_append_only BEFORE UPDATE OR DELETE ON gallery_auditevent
    FOR EACH ROW EXECUTE FUNCTION gallery_auditevent_append_only();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER gallery_auditevent_append_only ON gallery_auditevent;
DROP FUNCTION gallery_auditevent_append_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('gallery', '0005_alignment'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('actor_kind', models.CharField(choices=[('api_key', 'API key'), ('staff_user', 'staff user'), ('command', 'command'), ('system', 'system')], max_length=12)),
                ('actor_id', models.CharField(blank=True, help_text="The key's or user's id; a command's OS user", max_length=64)),
                ('actor_name', models.CharField(blank=True, help_text="The key's name, the username, the command", max_length=150)),
                ('action', models.CharField(help_text='What changed, e.g. person.create, photo.delete', max_length=40)),
                ('object_type', models.CharField(blank=True, max_length=40)),
                ('object_id', models.CharField(blank=True, max_length=64)),
                ('domain_id', models.BigIntegerField(blank=True, null=True)),
                ('domain_slug', models.CharField(blank=True, max_length=50)),
                ('request_id', models.CharField(blank=True, max_length=128)),
                ('details', models.JSONField(blank=True, default=dict)),
            ],
            options={
                'ordering': ['-created', '-id'],
                'indexes': [models.Index(fields=['-created', '-id'], name='audit_created'), models.Index(fields=['domain_slug', '-created'], name='audit_domain_created')],
            },
        ),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
