"""The audit trail: every door (API key, admin user, command, task) records its changes once, in
the change's transaction; rows are append-only in the database, read-only in the admin, and a
person's erasure leaves rows that name no biometric or personal data of that person."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from gallery import services
from gallery.models import ApiKey, AuditEvent, FaceEmbedding, FacePhoto, Person
from tests.conftest import add_photos, face_bytes


def _rows(**filters) -> list[tuple[str, str, str]]:
    """(action, actor kind, actor name) of the matching rows, oldest first."""
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("action", "actor_kind", "actor_name"))


def test_creating_and_deleting_a_person_through_the_api_leaves_two_rows_naming_the_key(
    alpha, alice, django_capture_on_commit_callbacks
):
    created = alice.client.post("/api/v1/domains/alpha/persons", {"name": "Angelina"}, format="json",
                                HTTP_X_REQUEST_ID="req-create-1")
    person_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        deleted = alice.client.delete(f"/api/v1/domains/alpha/persons/{person_id}", HTTP_X_REQUEST_ID="req-delete-1")

    assert (created.status_code, deleted.status_code) == (201, 204)
    rows = AuditEvent.objects.filter(object_type="person", object_id=str(person_id)).order_by("id")
    key = ApiKey.objects.get(name="alice")
    assert [(r.action, r.actor_kind, r.actor_id, r.actor_name, r.domain_id, r.domain_slug, r.request_id)
            for r in rows] == [
        ("person.create", "api_key", str(key.pk), "alice", alpha.pk, "alpha", "req-create-1"),
        ("person.delete", "api_key", str(key.pk), "alice", alpha.pk, "alpha", "req-delete-1"),
    ]


def test_a_refused_change_records_nothing(alpha, alice, charlie):
    Person.objects.create(domain=alpha, name="Taken", external_id="crm-1")
    other = services.person_create(domain=alpha, name="Other")[0]
    before = AuditEvent.objects.count()

    conflict = alice.client.patch(f"/api/v1/domains/alpha/persons/{other.pk}", {"external_id": "crm-1"}, format="json")
    read_only = charlie.client.post("/api/v1/domains/alpha/persons", {"name": "X"}, format="json")

    assert (conflict.status_code, read_only.status_code) == (409, 403)
    assert AuditEvent.objects.count() == before


def test_a_persons_erasure_leaves_rows_naming_no_biometric_or_personal_data(
    alpha, alice, django_capture_on_commit_callbacks
):
    person = services.person_create(domain=alpha, name="Angelina Jolie", external_id="crm-4242")[0]
    alice.client.patch(f"/api/v1/domains/alpha/persons/{person.pk}", {"name": "Angelina Voight"}, format="json")
    upload = alice.client.post(f"/api/v1/domains/alpha/persons/{person.pk}/images?wait=1",
                               {"image": _upload("img1.jpg", "Angelina Jolie_1.jpg")}, format="multipart")
    assert upload.status_code == 201
    photo = FacePhoto.objects.get(person=person)
    vector = FaceEmbedding.objects.get(photo=photo).embedding
    secrets = ["Angelina", "Jolie", "Voight", "crm-4242", photo.content_hash, photo.image.name,
               photo.source_name, *(f"{value:.5f}" for value in vector[:8])]

    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.delete(f"/api/v1/domains/alpha/persons/{person.pk}").status_code == 204

    rows = AuditEvent.objects.filter(domain_slug="alpha").order_by("id")
    assert [row.action for row in rows] == ["domain.create", "person.create", "person.rename", "photo.add", "person.delete"]
    erasure = rows.last()
    assert (erasure.object_id, erasure.details) == (str(person.pk), {"erased": True, "photos": 1, "faces": 1})
    text = json.dumps([model_to_dict(row) for row in rows], default=str)
    assert [secret for secret in secrets if secret in text] == []


def test_admin_changes_are_recorded_as_the_staff_user(alpha, admin_client, admin_user):
    person = add_photos(alpha, "A", "img1.jpg")
    first = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    renamed = admin_client.post(f"/admin/gallery/person/{person.pk}/change/", {
        "name": "B", "external_id": "", "active": "on",
        "photos-TOTAL_FORMS": "1", "photos-INITIAL_FORMS": "1", "photos-MIN_NUM_FORMS": "0",
        "photos-MAX_NUM_FORMS": "1000", "photos-0-id": str(person.photos.get().pk), "photos-0-person": str(person.pk),
    })
    admin_client.post("/admin/gallery/person/", {"action": "deactivate", "_selected_action": [person.pk]})

    assert renamed.status_code == 302
    person.refresh_from_db()
    assert (person.name, person.active) == ("B", False)
    assert _rows(id__gt=first) == [
        ("person.rename", "staff_user", admin_user.username),
        ("person.update", "staff_user", admin_user.username),
    ]
    assert AuditEvent.objects.get(id__gt=first, action="person.update").details == {"fields": ["active"], "active": False}


def test_revoking_a_key_and_editing_a_photo_in_the_admin_are_recorded(alpha, alice, admin_client, admin_user):
    key = ApiKey.objects.get(name="alice")
    person = add_photos(alpha, "A", "img1.jpg")
    photo = person.photos.get()

    revoked = admin_client.post(f"/admin/gallery/apikey/{key.pk}/change/",
                                {"name": "alice", "can_write": "on", "domains": [alpha.pk]})  # active unticked
    edited = admin_client.post(f"/admin/gallery/facephoto/{photo.pk}/change/", {"source_name": "renamed.jpg"})

    assert (revoked.status_code, edited.status_code) == (302, 302)
    row = AuditEvent.objects.get(action="key.revoke")
    assert (row.actor_kind, row.actor_name, row.object_id, row.details) == (
        "staff_user", admin_user.username, str(key.pk), {"name": "alice", "fields": ["active"]}
    )
    row = AuditEvent.objects.get(action="photo.update")
    assert (row.actor_name, row.object_id, row.details) == (admin_user.username, str(photo.pk), {"fields": ["source_name"]})


def test_a_domain_changed_in_the_admin_records_the_change_and_its_switch_as_the_staff_user(
    alpha, admin_client, admin_user, django_capture_on_commit_callbacks
):
    form = {"slug": "alpha", "name": "Alpha", "model_name": "Dlib", "detector": "opencv", "threshold": "0.3",
            "alignment": alpha.alignment, "active": "on", "min_face_size": alpha.min_face_size,
            "min_sharpness": alpha.min_sharpness, "max_yaw": alpha.max_yaw, "shadow_answer_from": "pgvector"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/gallery/domain/{alpha.pk}/change/", form)

    assert response.status_code == 302
    assert _rows(domain_slug="alpha", actor_kind="staff_user") == [
        ("domain.update", "staff_user", admin_user.username),
        ("model_switch.start", "staff_user", admin_user.username),
        ("model_switch.finish", "staff_user", admin_user.username),  # by the task, for the user who started it
    ]
    assert AuditEvent.objects.get(action="domain.update").details == {"fields": ["threshold"]}


def test_a_command_records_its_changes_as_itself(alpha):
    call_command("create_api_key", "ci", domains="alpha", write=True, stdout=StringIO(), stderr=StringIO())

    row = AuditEvent.objects.get(action="key.create", object_id=str(ApiKey.objects.get(name="ci").pk))
    assert (row.actor_kind, row.actor_name) == ("command", "create_api_key")
    assert row.details == {"name": "ci", "can_write": True, "domains": ["alpha"]}
    assert "frk_" not in json.dumps(model_to_dict(row))  # never the secret


def test_a_task_records_its_changes_as_whoever_enqueued_it(alpha, django_capture_on_commit_callbacks):
    root = services.Actor(kind="staff_user", id="7", name="root")
    with django_capture_on_commit_callbacks(execute=True):
        with services.acting(root):
            task = services.domain_model_switch(domain=alpha, model_name="Dlib", detector="opencv")
        assert services.actor_current().kind == "system"  # the task runs after the block, on commit

    task.refresh_from_db()
    assert task.status == "done" and task.params["actor"] == {"kind": "staff_user", "id": "7", "name": "root"}
    assert _rows(domain_slug="alpha", action__startswith="model_switch") == [
        ("model_switch.start", "staff_user", "root"),
        ("model_switch.finish", "staff_user", "root"),
    ]


def test_the_database_refuses_to_change_or_delete_an_audit_row(alpha):
    row = AuditEvent.objects.filter(action="domain.create").get()

    for attempt in (
        lambda: AuditEvent.objects.filter(pk=row.pk).update(actor_name="someone else"),
        lambda: AuditEvent.objects.filter(pk=row.pk).delete(),
        lambda: connection.cursor().execute("DELETE FROM gallery_auditevent"),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    row.refresh_from_db()
    assert (row.actor_kind, row.actor_name) == ("system", "pytest")  # the fixture made it, outside any door


def test_removing_a_domain_keeps_its_trail(alpha, django_capture_on_commit_callbacks):
    add_photos(alpha, "A", "img1.jpg")
    with django_capture_on_commit_callbacks(execute=True):
        services.domain_remove(domain=alpha)

    assert [action for action, _, _ in _rows(domain_slug="alpha")] == [
        "domain.create", "person.create", "photo.add", "domain.delete"
    ]


def test_audit_log_prints_newest_first_naming_the_actor(alpha, beta):
    with services.acting(services.Actor(kind="api_key", id="1", name="crm-sync")):
        person = services.person_create(domain=alpha, name="X")[0]
    with services.acting(services.Actor(kind="staff_user", id="2", name="root")):
        services.person_update(person=person, active=False)
    with services.acting(services.command_actor("ingest_images")):
        services.person_create(domain=beta, name="Y")

    out = StringIO()
    call_command("audit_log", domain="alpha", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()

    assert [line.split("  ", 1)[1].split(" [")[0] for line in lines] == [
        f"staff user root: person.update person {person.pk}",
        f"API key crm-sync: person.create person {person.pk}",
        "system pytest: domain.create domain " + str(alpha.pk),
    ]
    everything = StringIO()
    call_command("audit_log", limit=1, stdout=everything, stderr=StringIO())
    assert everything.getvalue().count("\n") == 1 and "command ingest_images: person.create" in everything.getvalue()
    later = StringIO()
    call_command("audit_log", since="2099-01-01", stdout=later, stderr=StringIO())
    assert later.getvalue() == ""


def test_audit_purge_is_the_one_way_to_delete_rows_and_is_recorded(alpha):
    before = AuditEvent.objects.count()

    out = StringIO()
    call_command("audit_log", purge_before=(timezone.now() + timedelta(seconds=1)).isoformat(), stdout=out)

    assert out.getvalue().startswith(f"Purged {before} audit row(s)")
    assert _rows() == [("audit.purge", "command", "audit_log")]


def test_admin_audit_pages_are_read_only_even_for_superusers(alpha, admin_client):
    row = AuditEvent.objects.get(action="domain.create")

    assert admin_client.get("/admin/gallery/auditevent/?actor_kind=system&action=domain.create").status_code == 200
    assert admin_client.get(f"/admin/gallery/auditevent/{row.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/gallery/auditevent/{row.pk}/change/", {"actor_name": "x"}).status_code == 403
    assert admin_client.post(f"/admin/gallery/auditevent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/gallery/auditevent/add/").status_code == 403
    assert admin_client.post("/admin/gallery/auditevent/", {
        "action": "delete_selected", "_selected_action": [row.pk], "post": "yes",
    }).status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=row.pk, actor_name="pytest").exists()


def _upload(name: str, as_name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(as_name, face_bytes(name), content_type="image/jpeg")
