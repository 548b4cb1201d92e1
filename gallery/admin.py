"""Admin curation: domains, persons (with their photos and face boxes), photos, API keys and tasks.

Nothing here can link two domains: a person's domain is fixed once created, a photo's person,
domain and picture and a face's everything are read-only, and the ways to change them are actions
that call services (move photos to a person of their domain, merge, re-embed), which the database's
constraints back up. Every delete (change page, bulk action, the person page's photo inline) goes
through the services that also erase the photo files.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, F, Q
from django.shortcuts import render
from django.utils.html import format_html

from faces.images import ImageRejected, decode_image
from faces.models_zoo import ModelUnavailable, check_available
from gallery import services
from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, GalleryTask, Person


def face_box_html(photo: FacePhoto, *, height: int = 120) -> str:
    """The photo with its serving model's face box drawn on it (as a percentage of the photo, so
    it scales with the thumbnail)."""
    if not photo.image:
        return "-"
    face = next((f for f in photo.faces.all() if f.model_name == photo.domain.model_name), None)
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


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = "__all__"

    def clean(self):
        data = super().clean()
        try:
            check_available(data.get("model_name", ""), data.get("detector", ""))
        except ModelUnavailable as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    form = DomainForm
    list_display = ["slug", "name", "model_name", "detector", "threshold_display", "switching_to", "active",
                    "person_count", "photo_count", "face_count"]
    list_filter = ["active", "model_name"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["pending_model", "pending_detector", "created"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_persons=Count("persons", distinct=True),
            n_photos=Count("photos", distinct=True),
            n_faces=Count("faces", filter=Q(faces__model_name=F("model_name")), distinct=True),
        )

    @admin.display(description="threshold")
    def threshold_display(self, obj: Domain) -> float:
        return obj.effective_threshold

    @admin.display(description="switching to")
    def switching_to(self, obj: Domain) -> str:
        return f"{obj.pending_model}/{obj.pending_detector}" if obj.pending_model else "-"

    @admin.display(description="persons", ordering="n_persons")
    def person_count(self, obj: Domain) -> int:
        return obj.n_persons

    @admin.display(description="photos", ordering="n_photos")
    def photo_count(self, obj: Domain) -> int:
        return obj.n_photos

    @admin.display(description="faces", ordering="n_faces")
    def face_count(self, obj: Domain) -> int:
        return obj.n_faces

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["model_name"].help_text = (
            "DeepFace recognition model. Changing it (or the detector) re-embeds every photo in the background; "
            "searches keep using the current model until the new vectors are complete."
        )
        return form

    def delete_model(self, request, obj: Domain):
        services.domain_remove(domain=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for domain in queryset:
            services.domain_remove(domain=domain)

    def save_model(self, request, obj: Domain, form, change):
        switch = change and ({"model_name", "detector"} & set(form.changed_data))
        if switch:
            new = (obj.model_name, obj.detector)
            obj.model_name, obj.detector = form.initial["model_name"], form.initial["detector"]
        super().save_model(request, obj, form, change)
        if switch:
            task = services.domain_model_switch(domain=obj, model_name=new[0], detector=new[1])
            if task is not None:
                self.message_user(request, f"Re-embedding {obj.slug} with {new[0]}/{new[1]} in the background "
                                  f"(task {task.pk}); searches switch when it is complete.")


class FacePhotoInline(admin.TabularInline):
    model = FacePhoto
    extra = 0
    fields = ["face", "source_name", "status", "reason", "created"]
    readonly_fields = fields
    can_delete = True
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("domain").prefetch_related("faces")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="photo and face")
    def face(self, obj: FacePhoto) -> str:
        return face_box_html(obj)


class MergeForm(forms.Form):
    target = forms.ModelChoiceField(queryset=Person.objects.none(), label="Merge into")


class HasFacesFilter(admin.SimpleListFilter):
    title = "faces"
    parameter_name = "faces"

    def lookups(self, request, model_admin):
        return [("yes", "with faces"), ("no", "without faces")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(n_faces__gt=0)
        if self.value() == "no":
            return queryset.filter(n_faces=0)
        return queryset


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "domain", "external_id", "active", "photo_count", "face_count", "updated"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["domain", "active", HasFacesFilter]
    list_select_related = ["domain"]
    search_fields = ["name", "external_id"]
    inlines = [FacePhotoInline]
    actions = ["reembed", "deactivate", "merge_into"]

    def get_readonly_fields(self, request, obj=None):
        # A person's domain is fixed once created: its photos, faces and files are that domain's
        # (the database refuses the change while it has photos). Merge or move photos instead.
        return ["domain"] if obj is not None else []

    def delete_model(self, request, obj: Person):
        services.person_remove(person=obj)

    def delete_queryset(self, request, queryset):
        services.persons_remove(persons=queryset)

    def save_formset(self, request, form, formset, change):
        # The photo inline is read-only but for its delete boxes, and those photos go through the
        # service that erases their files too (the formset only offers this person's photos).
        formset.save(commit=False)
        services.photos_remove(photos=FacePhoto.objects.filter(pk__in=[photo.pk for photo in formset.deleted_objects]))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_photos=Count("photos", distinct=True),
            n_faces=Count("faces", filter=Q(faces__model_name=F("domain__model_name")), distinct=True),
        )

    @admin.display(description="")
    def thumbnail(self, obj: Person) -> str:
        photo = obj.photos.exclude(image="").order_by("id").first()
        if photo is None:
            return "-"
        return format_html('<img src="{}" style="height:48px;width:48px;object-fit:cover">', photo.image.url)

    @admin.display(description="photos", ordering="n_photos")
    def photo_count(self, obj: Person) -> int:
        return obj.n_photos

    @admin.display(description="faces", ordering="n_faces")
    def face_count(self, obj: Person) -> int:
        return obj.n_faces

    @admin.action(description="Re-embed the photos of the selected persons")
    def reembed(self, request, queryset):
        for domain_id in set(queryset.values_list("domain_id", flat=True)):
            ids = list(FacePhoto.objects.filter(person__in=queryset, domain_id=domain_id).values_list("id", flat=True))
            if ids:
                task = services.photos_embed_enqueue(domain=Domain.objects.get(pk=domain_id), photo_ids=ids, replace=True)
                self.message_user(request, f"Re-embedding {len(ids)} photo(s) (task {task.pk}).")

    @admin.action(description="Deactivate the selected persons (never returned by searches)")
    def deactivate(self, request, queryset):
        for person in queryset:
            services.person_update(person=person, active=False)
        self.message_user(request, f"Deactivated {queryset.count()} person(s).")

    @admin.action(description="Merge the selected persons into another person")
    def merge_into(self, request, queryset):
        persons = list(queryset.order_by("id"))
        if len({person.domain_id for person in persons}) != 1:
            self.message_user(request, "Select persons of one domain to merge.", level=messages.ERROR)
            return None
        form = MergeForm(request.POST if "apply" in request.POST else None)
        form.fields["target"].queryset = Person.objects.filter(domain_id=persons[0].domain_id).exclude(
            pk__in=[person.pk for person in persons]
        )
        if form.is_valid():
            target = form.cleaned_data["target"]
            for person in persons:
                services.person_merge(source=person, target=target)
            self.message_user(request, f"Merged {len(persons)} person(s) into {target.name} (id {target.pk}).")
            return None
        context = {**self.admin_site.each_context(request), "persons": persons, "form": form,
                   "opts": self.model._meta, "title": "Merge persons"}
        return render(request, "admin/gallery/person/merge.html", context)


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
            return super().save_model(request, obj, form, change)
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
            return super().save_model(request, obj, form, change)
        secret = services.api_key_issue(key=obj)
        self.message_user(
            request, f"The new key is {secret} — copy it now: it is stored hashed and is not shown again.",
            level=messages.WARNING,
        )


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
