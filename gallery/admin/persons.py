"""Persons in the admin, with their photos and face boxes: re-embed, deactivate, merge."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, Q
from django.shortcuts import render
from django.utils.html import format_html

from gallery import services
from gallery.admin.photos import face_box_html
from gallery.models import Domain, FacePhoto, Person


class FacePhotoInline(admin.TabularInline):
    model = FacePhoto
    extra = 0
    fields = ["face", "source_name", "status", "quality_issues", "reason", "created"]
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

    @admin.display(description="quality issues")
    def quality_issues(self, obj: FacePhoto) -> str:
        # The serving model's face: a face with issues is kept out of search (FaceEmbedding.searchable).
        faces = [face for face in obj.faces.all() if face.model_name == obj.domain.model_name]
        if not faces or faces[0].quality is None:
            return "-"
        return ", ".join(faces[0].quality["issues"]) or "none"


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

    def save_model(self, request, obj: Person, form, change):
        # Through the services, so that the change is recorded in the audit trail like the API's.
        fields = {"name": obj.name, "external_id": obj.external_id, "active": obj.active}
        if change:
            services.person_update(person=obj, **fields)
        else:
            obj.pk = services.person_create(domain=obj.domain, **fields)[0].pk

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
            n_faces=Count(
                "faces",
                filter=Q(faces__model_name=F("domain__model_name"), faces__alignment=F("domain__alignment")),
                distinct=True,
            ),
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
