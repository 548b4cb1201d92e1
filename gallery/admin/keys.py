"""API keys in the admin: a new key's secret is shown once, then only its hash is kept."""

from django.contrib import admin, messages

from gallery import services
from gallery.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "can_write", "active", "created", "last_used"]
    list_filter = ["active", "can_write"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created", "last_used"]
    exclude = ["key_hash"]
    filter_horizontal = ["domains"]

    def save_model(self, request, obj: ApiKey, form, change):
        if change:
            services.api_key_save(key=obj, fields=form.changed_data)
            return None
        secret = services.api_key_issue(key=obj)
        self.message_user(
            request, f"The new key is {secret} — copy it now: it is stored hashed and is not shown again.",
            level=messages.WARNING,
        )
