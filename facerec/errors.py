"""The API's error contract: every error is ``{"error": {"code", "message"}}`` with its HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error a client caused (or a service the API depends on being unavailable)."""

    def __init__(self, message: str, *, code: str, status_code: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code


class NoFaceError(ApiError):
    def __init__(self, message: str):
        super().__init__(message, code="no_face", status_code=status.HTTP_422_UNPROCESSABLE_ENTITY)


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "parse_error",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_message(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


def error_body(code: str, message: str, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    # Imported here: rest_framework.views imports the authentication classes, which import this module.
    from rest_framework.views import exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "error_code", None) or _CODES.get(type(exc), "error")
    extra = {"fields": exc.detail} if isinstance(exc, exceptions.ValidationError) else {}
    response.data = error_body(code, _message(exc.detail), **extra)
    if response.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    """The same contract for plain Django views (404/500 handlers, health endpoints)."""
    return JsonResponse(error_body(code, message), status=status_code)


class ServiceUnavailableMiddleware:
    """A database that is down or restarting answers a clean 503 in the error contract (and a
    Retry-After) instead of a 500 page; Django drops the broken connection after the request, so
    the service recovers by itself once the database is back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError

        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            response = json_error("database_unavailable", "the database is unavailable; retry shortly", 503)
            response["Retry-After"] = "5"
            return response
        return None


def _wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/recognize"))


def page_not_found(request, exception=None):
    """404 for URLs that match no route: JSON under the API, Django's page elsewhere."""
    if _wants_json(request):
        return json_error("not_found", f"no route for {request.path}", 404)
    from django.views.defaults import page_not_found as html_page_not_found

    return html_page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return json_error("server_error", "internal error; it has been logged", 500)
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
