"""The web page at ``/``: a logged-in operator picks a domain, uploads a photo and sees the faces
boxed and named on it, and can compare two photos.

The page's forms post to session-authenticated views here (CSRF on, like any Django form) that
call the same services as the API and answer in the API's shapes and error contract; API keys are
for programs, the page is for people who already log in to the admin. Staff only, because a staff
user may see every domain's persons in the admin anyway.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import user_passes_test
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from facerec import metrics
from facerec.errors import ApiError, json_error
from gallery.models import Domain
from recognition import services
from recognition.apis import face_result_data, image_errors, read_image
from recognition.pipeline import StageTimer


def _is_operator(user) -> bool:
    return user.is_active and user.is_staff


operator_required = user_passes_test(_is_operator)  # anonymous users go to LOGIN_URL


def _operator_api(view):
    """For the page's XHR endpoints: JSON errors instead of redirects, the API's error contract."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return json_error("not_authenticated", "log in first", 401)
        if not _is_operator(request.user):
            return json_error("permission_denied", "only staff users may use this page", 403)
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
    image = read_image(request, {"image": request.FILES.get("image")})
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
            "faces": [face_result_data(result) for result in results],
        }
    )


@require_POST
@_operator_api
def compare(request):
    domain = _domain(request.POST.get("domain"))
    image1 = read_image(request, {"image1": request.FILES.get("image1")}, "image1")
    image2 = read_image(request, {"image2": request.FILES.get("image2")}, "image2")
    with image_errors():
        result = services.compare(
            image1, image2, model_name=domain.model_name, detector=domain.detector, threshold=domain.effective_threshold
        )
    metrics.compare_observed(route="web", outcome="same" if result.verified else "different")
    return JsonResponse(
        {
            "verified": result.verified,
            "distance": round(result.distance, 6),
            "threshold": result.threshold,
            "model": domain.model_name,
            "faces": {"image1": result.face1.box, "image2": result.face2.box},
        }
    )
