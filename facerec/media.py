"""Face photos are biometric data: only staff users allowed to view the gallery's photos may fetch
them (``gallery.view_facephoto``, the permission the admin asks for before it lists photos).

``/media/<path>`` checks the session (anonymous and non-staff users go to the login page, like the
admin sends them; staff without the permission get 403, whether or not the file exists), then either
streams the file (development, ``make run``) or, behind nginx (``MEDIA_X_ACCEL_REDIRECT``), answers an
``X-Accel-Redirect`` to an ``internal`` location so that nginx sends the bytes. Nothing under
MEDIA_ROOT is ever served without the check.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.utils._os import safe_join
from django.views.decorators.http import require_GET

PHOTO_PERMISSION = "gallery.view_facephoto"


@require_GET
@staff_member_required
def protected_media(request, path: str):
    if not request.user.has_perm(PHOTO_PERMISSION):
        raise PermissionDenied(f"viewing face photos needs the permission {PHOTO_PERMISSION}")
    try:
        full_path = safe_join(settings.MEDIA_ROOT, path)  # refuses ../ and absolute paths
    except Exception:  # noqa: BLE001 - SuspiciousFileOperation and friends
        raise Http404("no such file") from None
    if settings.MEDIA_X_ACCEL_REDIRECT:
        response = HttpResponse(content_type=mimetypes.guess_type(full_path)[0] or "application/octet-stream")
        response["X-Accel-Redirect"] = settings.MEDIA_X_ACCEL_REDIRECT.rstrip("/") + "/" + path
        response["Cache-Control"] = "private, max-age=3600"
        return response
    try:
        response = FileResponse(open(full_path, "rb"))
    except (FileNotFoundError, IsADirectoryError):
        raise Http404("no such file") from None
    response["Cache-Control"] = "private, max-age=3600"
    return response
