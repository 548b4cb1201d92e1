"""Who is acting during a request, for the audit trail (gallery.services.audit): the logged-in
user (the admin, the web page), unless the API's key authentication binds its key instead."""

from __future__ import annotations

from gallery.models import AuditEvent
from gallery.services import Actor, acting


class ActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Resolved only when a change is recorded: most requests change nothing, and request.user
        # is lazy (a session lookup).
        def logged_in_user() -> Actor | None:
            user = getattr(request, "user", None)
            if user is None or not user.is_authenticated:
                return None
            return Actor(kind=AuditEvent.ActorKind.STAFF_USER, id=str(user.pk), name=user.get_username())

        with acting(logged_in_user):
            return self.get_response(request)
