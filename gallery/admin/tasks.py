"""Task records in the admin: background work and command runs, read-only."""

from django.contrib import admin

from gallery.models import GalleryTask


@admin.register(GalleryTask)
class GalleryTaskAdmin(admin.ModelAdmin):
    list_display = ["created", "kind", "domain", "status", "progress", "attempts", "finished", "error_short"]
    list_filter = ["status", "kind", "domain"]
    list_select_related = ["domain"]
    readonly_fields = [field.name for field in GalleryTask._meta.fields]
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: GalleryTask) -> str:
        return f"{obj.done}/{obj.total}" if obj.total else str(obj.done)

    @admin.display(description="error")
    def error_short(self, obj: GalleryTask) -> str:
        return obj.error[:80]
