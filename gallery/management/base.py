"""The base of the gallery's management commands: what a command changes is recorded in the audit
trail as that command's (gallery.services.audit), named after it and the OS user running it."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from gallery.services import acting, command_actor


class GalleryCommand(BaseCommand):
    """A ``BaseCommand`` that acts as itself. A new command that writes to a gallery subclasses this."""

    def execute(self, *args, **options):
        with acting(command_actor(self.__module__.rsplit(".", 1)[-1])):
            return super().execute(*args, **options)
