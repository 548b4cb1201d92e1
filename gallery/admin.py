from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, Person


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "model_name", "detector", "threshold_display", "active", "person_count", "face_count"]
    list_filter = ["active", "model_name"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_persons=Count("persons", distinct=True), n_faces=Count("faces", distinct=True)
        )

    @admin.display(description="threshold")
    def threshold_display(self, obj: Domain) -> float:
        return obj.effective_threshold

    @admin.display(description="persons", ordering="n_persons")
    def person_count(self, obj: Domain) -> int:
        return obj.n_persons

    @admin.display(description="faces", ordering="n_faces")
    def face_count(self, obj: Domain) -> int:
        return obj.n_faces


class FacePhotoInline(admin.TabularInline):
    model = FacePhoto
    extra = 0
    fields = ["thumbnail", "source_name", "status", "reason", "created"]
    readonly_fields = fields
    can_delete = True
    show_change_link = True

    @admin.display(description="photo")
    def thumbnail(self, obj: FacePhoto) -> str:
        if not obj.image:
            return "-"
        return format_html('<img src="{}" style="max-height:80px">', obj.image.url)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "external_id", "active", "photo_count", "face_count", "updated"]
    list_filter = ["domain", "active"]
    list_select_related = ["domain"]
    search_fields = ["name", "external_id"]
    inlines = [FacePhotoInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_photos=Count("photos", distinct=True), n_faces=Count("faces", distinct=True)
        )

    @admin.display(description="photos", ordering="n_photos")
    def photo_count(self, obj: Person) -> int:
        return obj.n_photos

    @admin.display(description="faces", ordering="n_faces")
    def face_count(self, obj: Person) -> int:
        return obj.n_faces


@admin.register(FacePhoto)
class FacePhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "person", "domain", "status", "source_name", "created"]
    list_filter = ["status", "domain"]
    list_select_related = ["person", "domain"]
    search_fields = ["person__name", "source_name", "content_hash"]
    raw_id_fields = ["person"]


@admin.register(FaceEmbedding)
class FaceEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["id", "person", "domain", "model_name", "box_w", "box_h", "detection_confidence"]
    list_filter = ["domain", "model_name"]
    list_select_related = ["person", "domain"]
    exclude = ["embedding"]
    raw_id_fields = ["photo", "person"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "can_write", "active", "created", "last_used"]
    list_filter = ["active", "can_write"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "key_hash", "created", "last_used"]
    filter_horizontal = ["domains"]
