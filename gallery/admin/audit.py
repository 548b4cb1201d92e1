"""The audit trail in the admin: readable and filterable, never added to, changed or deleted, by
anyone (superusers included); the database refuses it too (migration 0006_audit)."""

from django.contrib import admin

from gallery.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "actor_kind", "actor_name", "action", "object_type", "object_id", "domain_slug",
                    "request_id"]
    list_filter = ["domain_slug", "action", "actor_kind", "created"]
    search_fields = ["actor_name", "action", "object_id", "request_id"]
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
