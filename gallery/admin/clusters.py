"""Clusters of unknown people in the admin: largest first with their faces' thumbnails; name a
cluster (a new person or one of its domain), take a face out, dismiss. Everything a write key
can do through the API, through the same services (gallery.services.clusters)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from gallery import services
from gallery.admin.photos import PersonChoiceField
from gallery.models import FaceCluster, FaceEmbedding, Person

THUMBNAIL_PX = 72
THUMBNAILS_LISTED = 8


def face_thumbnail_html(face: FaceEmbedding, *, size: int = THUMBNAIL_PX) -> str:
    """The face cut out of its photo (the photo as a CSS background, scaled and shifted so that
    the face box fills the square): no cropped copy of the biometric picture is written anywhere."""
    photo = face.photo
    if not photo.image or not photo.width or not photo.height or not face.box_w or not face.box_h:
        return "-"
    sx, sy = size / face.box_w, size / face.box_h
    return format_html(
        '<span class="face-thumb" title="face {} of {}" style="display:inline-block;width:{}px;height:{}px;'
        'background:url({}) no-repeat;background-size:{}px {}px;background-position:-{}px -{}px;'
        'margin:2px;border-radius:4px"></span>',
        face.pk, photo.source_name or photo.content_hash[:12], size, size, photo.image.url,
        round(photo.width * sx), round(photo.height * sy), round(face.box_x * sx), round(face.box_y * sy),
    )


class AssignForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label="New person named")
    person = PersonChoiceField(queryset=Person.objects.none(), required=False, label="or existing person")

    def clean(self):
        data = super().clean()
        if bool(data.get("name")) == bool(data.get("person")):
            raise forms.ValidationError("Give either a new person's name or an existing person.")
        return data


class DismissedFilter(admin.SimpleListFilter):
    """Clusters to name by default; dismissed ones only when asked for."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("dismissed", "dismissed")]

    def choices(self, changelist):
        yield {"selected": self.value() is None, "query_string": changelist.get_query_string(remove=[self.parameter_name]),
               "display": "to name"}
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request, queryset):
        return queryset.filter(dismissed=self.value() == "dismissed")


@admin.register(FaceCluster)
class FaceClusterAdmin(admin.ModelAdmin):
    list_display = ["id", "faces_preview", "size", "suggestion", "domain", "dismissed"]
    list_display_links = ["id"]
    list_filter = ["domain", DismissedFilter]
    list_select_related = ["domain", "suggestion"]
    fields = ["domain", "size", "suggestion", "dismissed", "faces_to_remove", "created", "updated"]
    readonly_fields = fields
    actions = ["assign", "dismiss"]

    def get_queryset(self, request):
        faces = FaceEmbedding.objects.filter(person__isnull=True).select_related("photo").order_by("id")
        return (
            super().get_queryset(request)
            .annotate(n_faces=Count("faces", filter=Q(faces__person__isnull=True)))
            .filter(n_faces__gt=0)
            .prefetch_related(Prefetch("faces", queryset=faces))
            .order_by("-n_faces", "id")  # largest first
        )

    def has_add_permission(self, request) -> bool:
        return False  # clusters are made by clustering (gallery.services.clusters)

    @admin.display(description="faces", ordering="n_faces")
    def size(self, obj: FaceCluster) -> int:
        return obj.n_faces

    @admin.display(description="faces")
    def faces_preview(self, obj: FaceCluster) -> str:
        faces = list(obj.faces.all())
        more = f" +{len(faces) - THUMBNAILS_LISTED}" if len(faces) > THUMBNAILS_LISTED else ""
        return format_html("{}{}", format_html_join("", "{}", ((face_thumbnail_html(f),) for f in faces[:THUMBNAILS_LISTED])), more)

    @admin.display(description="faces (take one out: it becomes a cluster of its own)")
    def faces_to_remove(self, obj: FaceCluster) -> str:
        return format_html_join(
            "", '<span class="cluster-face" style="display:inline-block;text-align:center">{}<br>'
            '<a class="remove-face" href="{}">take out</a></span>',
            ((face_thumbnail_html(face), reverse("admin:gallery_facecluster_remove_face", args=[obj.pk, face.pk]))
             for face in obj.faces.all()),
        )

    def get_urls(self):
        urls = [
            path("<int:cluster_id>/remove-face/<int:face_id>/", self.admin_site.admin_view(self.remove_face),
                 name="gallery_facecluster_remove_face"),
        ]
        return urls + super().get_urls()

    def remove_face(self, request, cluster_id: int, face_id: int):
        """Take one face out (a POST from the confirmation page; a GET asks first)."""
        cluster = get_object_or_404(self.get_queryset(request), pk=cluster_id)
        if not self.has_change_permission(request, cluster):
            return redirect("admin:index")
        face = get_object_or_404(FaceEmbedding.objects.select_related("photo"), pk=face_id, cluster=cluster)
        if request.method == "POST":
            try:
                alone = services.cluster_face_remove(cluster=cluster, face_id=face.pk)
            except services.ClusterConflict as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, f"Face {face.pk} is now cluster {alone.pk}, on its own.")
            return redirect("admin:gallery_facecluster_changelist")
        return render(request, "admin/gallery/facecluster/remove_face.html", {
            **self.admin_site.each_context(request), "cluster": cluster, "face": face,
            "thumbnail": face_thumbnail_html(face, size=120), "opts": self.model._meta,
        })

    @admin.action(description="Name the selected clusters: their faces join a person", permissions=["change"])
    def assign(self, request, queryset):
        clusters = list(queryset)
        domains = {cluster.domain_id for cluster in clusters}
        if len(domains) != 1:
            self.message_user(request, "Choose clusters of one domain.", level=messages.ERROR)
            return None
        form = AssignForm(request.POST if "apply" in request.POST else None)
        # Only the clusters' own domain is offered, and the service refuses any other person.
        form.fields["person"].queryset = Person.objects.filter(domain_id=domains.pop()).order_by("name", "id")
        if "apply" in request.POST and form.is_valid():
            person = form.cleaned_data["person"]
            for cluster in clusters:
                try:
                    done = services.cluster_assign(cluster=cluster, person=person, name=None if person else form.cleaned_data["name"])
                except services.ClusterConflict as exc:
                    self.message_user(request, str(exc), level=messages.WARNING)
                    continue
                person = done.person  # a new person is created once; the other clusters join it
                self.message_user(request, f"{done.faces} face(s) of cluster {cluster.pk} joined {person.name} (id {person.pk}).")
            return None
        return render(request, "admin/gallery/facecluster/assign.html", {
            **self.admin_site.each_context(request), "clusters": clusters, "form": form, "opts": self.model._meta,
        })

    @admin.action(description="Dismiss the selected clusters (never suggested again)", permissions=["change"])
    def dismiss(self, request, queryset):
        for cluster in queryset:
            services.cluster_dismiss(cluster=cluster)
        self.message_user(request, f"Dismissed {queryset.count()} cluster(s).")
