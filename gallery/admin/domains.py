"""Domains in the admin: a model whose weights are missing (or an alignment it cannot take) is
refused, changing a domain's model, detector or alignment starts a switch
(services.domain_model_switch) instead of saving the new one at once, and an action calibrates the
threshold from the domain's own gallery (services.threshold_calibrate). Shadow mode is turned on
only with a legacy file that services.shadow_file_check accepts, as ``manage.py shadow_mode`` does."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, F, Q

from faces.models_zoo import ModelUnavailable, check_alignment, check_available, native_alignment
from gallery import services
from gallery.models import Domain


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "shadow_answer_from" in self.fields:  # a form posted without it keeps the default
            self.fields["shadow_answer_from"].required = False

    def clean_shadow_answer_from(self) -> str:
        return self.cleaned_data.get("shadow_answer_from") or "pgvector"

    def clean(self):
        data = super().clean()
        try:
            check_available(data.get("model_name", ""), data.get("detector", ""))
            if data.get("alignment"):
                check_alignment(data["model_name"], data["alignment"])
        except ModelUnavailable as exc:
            raise forms.ValidationError(str(exc)) from None
        if data.get("shadow_enabled"):
            self._clean_shadow(data)
        return data

    def _clean_shadow(self, data: dict) -> None:
        if not data.get("shadow_file"):
            raise forms.ValidationError({"shadow_file": "Shadow mode needs the legacy gallery file"})
        # Checked against the domain as this form would save it (its model and alignment).
        model_name = data.get("model_name") or self.instance.model_name
        domain = Domain(slug=data.get("slug") or self.instance.slug, model_name=model_name,
                        alignment=data.get("alignment") or native_alignment(model_name))
        try:
            checked = services.shadow_file_check(domain=domain, path=data["shadow_file"])
        except services.ShadowFileRefused as exc:
            raise forms.ValidationError({"shadow_file": str(exc)}) from None
        data["shadow_file"] = str(checked.path)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    form = DomainForm
    list_display = ["slug", "name", "model_name", "detector", "threshold_display", "switching_to", "active",
                    "person_count", "photo_count", "face_count"]
    list_filter = ["active", "model_name"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["pending_model", "pending_detector", "pending_alignment", "created"]
    actions = ["calibrate_threshold"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_persons=Count("persons", distinct=True),
            n_photos=Count("photos", distinct=True),
            n_faces=Count(
                "faces", filter=Q(faces__model_name=F("model_name"), faces__alignment=F("alignment")), distinct=True
            ),
        )

    @admin.display(description="threshold")
    def threshold_display(self, obj: Domain) -> float:
        return obj.effective_threshold

    @admin.display(description="switching to")
    def switching_to(self, obj: Domain) -> str:
        if not obj.pending_model:
            return "-"
        return f"{obj.pending_model}/{obj.pending_detector}/{obj.pending_alignment}"

    @admin.display(description="persons", ordering="n_persons")
    def person_count(self, obj: Domain) -> int:
        return obj.n_persons

    @admin.display(description="photos", ordering="n_photos")
    def photo_count(self, obj: Domain) -> int:
        return obj.n_photos

    @admin.display(description="faces", ordering="n_faces")
    def face_count(self, obj: Domain) -> int:
        return obj.n_faces

    @admin.action(description="Calibrate the threshold from the gallery (at most 1 %% of strangers named) and set it")
    def calibrate_threshold(self, request, queryset):
        for domain in queryset:
            try:
                result = services.threshold_calibrate(domain=domain)
            except services.CalibrationRefused as exc:
                self.message_user(request, str(exc), level=messages.WARNING)
                continue
            row = result.row(result.proposed)
            services.domain_threshold_set(domain=domain, threshold=result.proposed)
            known = "n/a" if row.known_named is None else f"{100 * row.known_named:.1f} %"
            self.message_user(
                request,
                f"{domain.slug}: threshold {result.proposed:.4f} (was {result.current:.4f}); predicted on its "
                f"{result.persons} persons: strangers named {100 * row.strangers_named:.1f} %, known named {known}.",
            )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["model_name"].help_text = (
            "DeepFace recognition model. Changing it (or the detector) re-embeds every photo in the background; "
            "searches keep using the current model until the new vectors are complete."
        )
        form.base_fields["alignment"].help_text = (
            "How faces are cropped for the model; empty: the model's native one (dlib_chip for Dlib). "
            "Changing it re-embeds every photo like a model change. Keep deepface for a domain whose "
            "vectors came from a DeepFace PKL (import_pkl) that have no photo files to re-embed."
        )
        return form

    def delete_model(self, request, obj: Domain):
        services.domain_remove(domain=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for domain in queryset:
            services.domain_remove(domain=domain)

    def save_model(self, request, obj: Domain, form, change):
        switch = change and ({"model_name", "detector", "alignment"} & set(form.changed_data))
        if switch:
            new = (obj.model_name, obj.detector, obj.alignment or native_alignment(obj.model_name))
            obj.model_name, obj.detector = form.initial["model_name"], form.initial["detector"]
            obj.alignment = form.initial["alignment"]
        fields = [field for field in form.changed_data if not (switch and field in switch)]
        services.domain_save(domain=obj, fields=fields)
        if switch:
            task = services.domain_model_switch(domain=obj, model_name=new[0], detector=new[1], alignment=new[2])
            if task is not None:
                self.message_user(request, f"Re-embedding {obj.slug} with {'/'.join(new)} in the background "
                                  f"(task {task.pk}); searches switch when it is complete.")
