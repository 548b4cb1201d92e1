"""The web page at ``/``: a logged-in operator picks a domain, uploads a photo and sees the faces
boxed and named on it, and can compare two photos.

The page's forms post to session-authenticated views here (CSRF on, like any Django form) that
call the same services as the API and answer in the API's shapes and error contract; API keys are
for programs, the page is for people who already log in to the admin.

Who may use it follows the admin: the staff flag lets a user log in (anonymous and non-staff users
are sent to the login page), and the gallery's view permission on persons (``gallery.view_person``;
superusers have every permission) lets them see who is who. A staff user without it, whom the admin
shows no gallery page either, gets 403 here, on every domain. Errors name the photos as the page's
forms do ("Second photo"), not by the field names of the API ("image2").
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from facerec import metrics
from facerec.errors import ApiError, NoFaceError, json_error
from faces.images import ImageRejected, decode_image
from faces.pipeline import StageTimer
from gallery.models import Domain
from recognition import services
from recognition.apis import image_errors
from recognition.serializers import CompareResponse, FaceResultSerializer

PAGE_PERMISSION = "gallery.view_person"
# The upload fields as the page's forms label them.
PHOTO_LABELS = {"image": "Photo", "image1": "First photo", "image2": "Second photo"}


def _is_staff(user) -> bool:
    return user.is_active and user.is_staff


def _refusal(user) -> str:
    return (f"{user.get_username()} may not use this page: it needs the permission {PAGE_PERMISSION} "
            "(Gallery | person | Can view person), given by a superuser in the admin")


def operator_required(view):
    """For the page itself: the login page for anonymous and non-staff users, 403 without the permission."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not _is_staff(request.user):
            return redirect_to_login(request.get_full_path())
        if not request.user.has_perm(PAGE_PERMISSION):
            return render(request, "web/forbidden.html", {"reason": _refusal(request.user)}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _operator_api(view):
    """For the page's XHR endpoints: JSON errors instead of redirects, the API's error contract."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return json_error("not_authenticated", "log in first", 401)
        if not _is_staff(request.user):
            return json_error("permission_denied", "only staff users may use this page", 403)
        if not request.user.has_perm(PAGE_PERMISSION):
            return json_error("permission_denied", _refusal(request.user), 403)
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return json_error(exc.error_code, str(exc.detail), exc.status_code)

    return wrapped


def _domain(slug: str | None) -> Domain:
    domain = Domain.objects.filter(active=True, slug=slug or "").first()
    if domain is None:
        raise ApiError(f"domain {slug!r} not found", code="domain_not_found", status_code=404)
    return domain


@require_GET
@operator_required
def index(request):
    domains = Domain.objects.filter(active=True).order_by("name")
    return render(request, "web/index.html", {"domains": domains, "max_upload_bytes": settings.MAX_UPLOAD_BYTES})


@require_POST
@_operator_api
def recognize(request):
    domain = _domain(request.POST.get("domain"))
    image = _photo(request, "image")
    timer = StageTimer()
    with image_errors():
        results = services.recognize(image, domain=domain, timer=timer).faces
    metrics.recognize_observed(
        route="web", stages_ms=timer.stages, faces=[result.match is not None for result in results]
    )
    return JsonResponse(
        {
            "domain": domain.slug,
            "model": domain.model_name,
            "threshold": domain.effective_threshold,
            "faces": FaceResultSerializer(results, many=True).data,
        }
    )


@require_POST
@_operator_api
def compare(request):
    domain = _domain(request.POST.get("domain"))
    image1, image2 = _photo(request, "image1"), _photo(request, "image2")
    with image_errors():
        try:
            result = services.compare(
                image1, image2, model_name=domain.model_name, detector=domain.detector,
                alignment=domain.alignment, threshold=domain.effective_threshold,
            )
        except services.NoFaceFound as exc:
            raise NoFaceError(f"no face was found in the {PHOTO_LABELS[exc.side].lower()}") from None
        except ImageRejected as exc:
            label = PHOTO_LABELS["image1" if _rejected(image1) else "image2"]
            raise ApiError(f"{label}: {exc}", code=exc.code, status_code=exc.status) from None
    metrics.compare_observed(route="web", outcome="same" if result.verified else "different")
    return JsonResponse({"domain": domain.slug, **CompareResponse(result).data})


def _photo(request, field: str) -> bytes:
    upload = request.FILES.get(field)
    if upload is None:
        raise ApiError(f"{PHOTO_LABELS[field]}: no file chosen", code="image_required")
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise ApiError(
            f"{PHOTO_LABELS[field]} is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="too_large", status_code=413
        )
    return upload.read()


def _rejected(data: bytes) -> bool:
    """Whether these bytes are what compare refused. Only asked after a refusal, to say which photo
    it was: compare decodes the first photo before the second."""
    try:
        decode_image(data)
    except ImageRejected:
        return True
    return False
