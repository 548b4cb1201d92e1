"""One domain per row chain, enforced by the database.

A photo's domain is its person's; a face's person and domain are its photo's. Forms and services
already keep it so, but a tenant boundary must not depend on every code path remembering it:
composite foreign keys make PostgreSQL refuse any row (from the admin, a command, a task, raw SQL)
that links two domains. A face's person need not be checked against the person table: it is its
photo's, whose (person, domain) is checked there.

- ``gallery_facephoto (person_id, domain_id)`` references ``gallery_person (id, domain_id)``: a
  person cannot change domain while it has photos, a photo cannot join another domain's person.
- ``gallery_faceembedding (photo_id, person_id, domain_id)`` references ``gallery_facephoto (id,
  person_id, domain_id)`` ``ON UPDATE CASCADE``: a photo moved to another person of its domain
  (merge, the admin's "move" action) takes its faces along, and a face cannot be given another
  person or domain than its photo's.

Both are ``DEFERRABLE INITIALLY IMMEDIATE``: a violating statement fails at once, and a transaction
that needs to (the tests that build such rows on purpose) can defer them to its commit.

Rows that already break the rule stop the migration: ``check_one_domain_per_chain`` names them
before any constraint is added, and nothing changes until they are fixed.
"""

from django.core.management.base import CommandError
from django.db import migrations, models

PHOTO_FK = "facephoto_person_same_domain"
FACE_FK = "faceembedding_photo_same_person_domain"
# Rows named in the refusal; the count covers all of them.
NAMED = 50


class CrossDomainRows(CommandError):
    """The database holds rows that link two domains (or a face to another person than its
    photo's). A CommandError, so that ``manage.py migrate`` prints the message, not a traceback."""


def cross_domain_rows(connection) -> list[str]:
    """Every photo whose domain is not its person's and every face whose person or domain is not
    its photo's, as sentences naming the ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ph.id, ph.domain_id, p.id, p.domain_id FROM gallery_facephoto ph "
            "JOIN gallery_person p ON p.id = ph.person_id WHERE ph.domain_id <> p.domain_id ORDER BY ph.id"
        )
        photos = cursor.fetchall()
        cursor.execute(
            "SELECT f.id, f.person_id, f.domain_id, ph.id, ph.person_id, ph.domain_id FROM gallery_faceembedding f "
            "JOIN gallery_facephoto ph ON ph.id = f.photo_id "
            "WHERE (f.person_id, f.domain_id) <> (ph.person_id, ph.domain_id) ORDER BY f.id"
        )
        faces = cursor.fetchall()
    return [
        *(f"photo {photo} (domain {domain}) belongs to person {person} of domain {person_domain}"
          for photo, domain, person, person_domain in photos),
        *(f"face {face} (person {person}, domain {domain}) does not match its photo {photo} "
          f"(person {photo_person}, domain {photo_domain})"
          for face, person, domain, photo, photo_person, photo_domain in faces),
    ]


def check_one_domain_per_chain(apps, schema_editor) -> None:
    rows = cross_domain_rows(schema_editor.connection)
    if not rows:
        return
    more = f"\n  … and {len(rows) - NAMED} more" if len(rows) > NAMED else ""
    raise CrossDomainRows(
        f"Refusing to add the one-domain-per-row-chain constraints: {len(rows)} row(s) link two domains "
        "(a photo's domain must be its person's; a face's person and domain must be its photo's):\n  "
        + "\n  ".join(rows[:NAMED]) + more + "\nDecide which domain each of these rows belongs to, fix or delete "
        "them (SQL or `manage.py shell`; nothing was changed), then run `manage.py migrate` again."
    )


class Migration(migrations.Migration):
    dependencies = [("gallery", "0002_lifecycle")]

    operations = [
        migrations.RunPython(check_one_domain_per_chain, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="person",
            constraint=models.UniqueConstraint(fields=["id", "domain"], name="person_id_domain_unique"),
        ),
        migrations.AddConstraint(
            model_name="facephoto",
            constraint=models.UniqueConstraint(fields=["id", "person", "domain"], name="photo_id_person_domain_unique"),
        ),
        migrations.RunSQL(
            f"ALTER TABLE gallery_facephoto ADD CONSTRAINT {PHOTO_FK} FOREIGN KEY (person_id, domain_id) "
            "REFERENCES gallery_person (id, domain_id) DEFERRABLE INITIALLY IMMEDIATE",
            f"ALTER TABLE gallery_facephoto DROP CONSTRAINT {PHOTO_FK}",
        ),
        migrations.RunSQL(
            f"ALTER TABLE gallery_faceembedding ADD CONSTRAINT {FACE_FK} FOREIGN KEY (photo_id, person_id, domain_id) "
            "REFERENCES gallery_facephoto (id, person_id, domain_id) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE",
            f"ALTER TABLE gallery_faceembedding DROP CONSTRAINT {FACE_FK}",
        ),
    ]
