"""Photos and faces in the admin: a new photo is stored as the API stores one; a photo's person,
domain and picture are fixed (move it to another person of its domain instead); faces are read-only."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.html import format_html

from faces.images import ImageRejected, decode_image
from gallery import services
from gallery.models import Domain, FaceEmbedding, FacePhoto, Person


def face_box_html(photo: FacePhoto, *, height: int = 120) -> str:
    """The photo with its serving model's face box drawn on it (as a percentage of the photo, so
    it scales with the thumbnail)."""
    if not photo.image:
        return "-"
    face = next(
        (f for f in photo.faces.all() if (f.model_name, f.alignment) == photo.domain.space), None
    )
    width, full_height = photo.width, photo.height
    box = ""
    if face is not None and width and full_height:
        box = format_html(
            '<div style="position:absolute;left:{}%;top:{}%;width:{}%;height:{}%;'
            'border:2px solid #2ecc40;box-sizing:border-box"></div>',
            round(100 * face.box_x / width, 2), round(100 * face.box_y / full_height, 2),
            round(100 * face.box_w / width, 2), round(100 * face.box_h / full_height, 2),
        )
    return format_html(
        '<div class="face-box" style="position:relative;display:inline-block">'
        '<img src="{}" style="height:{}px;display:block">{}</div>',
        photo.image.url, height, box,
    )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Person) -> str:
        return f"{obj.name} (id {obj.pk})"


class MovePhotosForm(forms.Form):
    person = PersonChoiceField(queryset=Person.objects.none(), label="Move to")


class FacePhotoAddForm(forms.ModelForm):
    """A new photo of a person, stored as the API stores one (services.photos_upload): its domain
    is the person's, its file is named by its content hash, and a task embeds it."""

    class Meta:
        model = FacePhoto
        fields = ["person", "image", "source_name"]

    def clean_image(self):
        upload = self.cleaned_data["image"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"larger than {settings.MAX_UPLOAD_BYTES} bytes")
        try:
            decode_image(upload.read())
        except ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from None
        finally:
            upload.seek(0)
        return upload


@admin.register(FacePhoto)
class FacePhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "preview", "person", "domain", "status", "source_name", "created"]
    list_filter = ["status", "domain"]
    list_select_related = ["person", "domain"]
    search_fields = ["person__name", "source_name", "content_hash"]
    raw_id_fields = ["person"]
    readonly_fields = ["face", "content_hash", "width", "height", "status", "reason", "created"]
    actions = ["reembed", "move_to_person"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("faces")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = FacePhotoAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["person", "image", "source_name"]
        return ["face", "person", "domain", "source_name", "image", *self.readonly_fields[1:]]

    def get_readonly_fields(self, request, obj=None):
        # Person, domain and picture are fixed: "move to another person" moves a photo within its
        # domain, and a new picture is a new photo (its hash, status and face are the picture's).
        return [] if obj is None else ["person", "domain", "image", *self.readonly_fields]

    def save_model(self, request, obj: FacePhoto, form, change):
        if change:
            services.photo_save(photo=obj, fields=form.changed_data)
            return None
        upload = form.cleaned_data["image"]
        name = form.cleaned_data["source_name"] or upload.name or ""
        [uploaded] = services.photos_upload(person=form.cleaned_data["person"], files=[(upload.read(), name)])
        obj.pk = uploaded.photo.pk
        obj.refresh_from_db()
        if uploaded.created:
            self.message_user(request, f"Embedding the photo in the background (task {uploaded.task.pk}).")
        else:
            self.message_user(request, "This picture was already in the domain: nothing new was stored.",
                              level=messages.WARNING)

    def delete_model(self, request, obj: FacePhoto):
        services.photo_remove(photo=obj)

    def delete_queryset(self, request, queryset):
        services.photos_remove(photos=queryset)

    @admin.display(description="photo")
    def preview(self, obj: FacePhoto) -> str:
        return face_box_html(obj, height=60)

    @admin.display(description="photo and face")
    def face(self, obj: FacePhoto) -> str:
        return face_box_html(obj, height=320)

    @admin.action(description="Re-embed the selected photos")
    def reembed(self, request, queryset):
        for domain in Domain.objects.filter(pk__in=queryset.values("domain_id")):
            ids = list(queryset.filter(domain=domain).values_list("id", flat=True))
            task = services.photos_embed_enqueue(domain=domain, photo_ids=ids, replace=True)
            self.message_user(request, f"Re-embedding {len(ids)} photo(s) of {domain.slug} (task {task.pk}).")

    @admin.action(description="Move the selected photos (and their faces) to another person")
    def move_to_person(self, request, queryset):
        photos = list(queryset.order_by("id"))
        domains = {photo.domain_id for photo in photos}
        if len(domains) != 1:
            self.message_user(request, "Select photos of one domain to move.", level=messages.ERROR)
            return None
        form = MovePhotosForm(request.POST if "apply" in request.POST else None)
        # Only the photos' own domain is offered, and the service refuses any other person.
        form.fields["person"].queryset = Person.objects.filter(domain_id=domains.pop())
        if form.is_valid():
            person = form.cleaned_data["person"]
            moved = services.photos_move(photos=FacePhoto.objects.filter(pk__in=[p.pk for p in photos]), person=person)
            self.message_user(request, f"Moved {moved} photo(s) to {person.name} (id {person.pk}).")
            return None
        context = {**self.admin_site.each_context(request), "photos": photos, "form": form,
                   "opts": self.model._meta, "title": "Move photos"}
        return render(request, "admin/gallery/facephoto/move.html", context)


@admin.register(FaceEmbedding)
class FaceEmbeddingAdmin(admin.ModelAdmin):
    """Faces are viewed, never edited: a face's person and domain are its photo's (move the photo),
    its vector and box come from the photo (re-embed it)."""

    list_display = ["id", "person", "domain", "model_name", "box_w", "box_h", "detection_confidence"]
    list_filter = ["domain", "model_name"]
    list_select_related = ["person", "domain"]
    exclude = ["embedding"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
