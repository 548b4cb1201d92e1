#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A command leaves no server behind: when it ends, the embedded PostgreSQL and Valkey it used stop,
unless another process still uses them (``make run``, another command, a test session); see
facerec/embedded.py.
"""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    from django.core.management import execute_from_command_line

    from facerec import embedded

    if sys.argv[1:2] == ["stop_stack"]:
        embedded.autostart = False  # stopping must not first start what it is about to stop
    try:
        execute_from_command_line(sys.argv)
    finally:
        _release(embedded)


def _release(embedded) -> None:
    try:
        embedded.release_all()
    except Exception as exc:  # noqa: BLE001 - the command's own outcome stands; say what was left
        print(f"could not stop the embedded servers: {exc} (`make stop` stops them)", file=sys.stderr)


if __name__ == "__main__":
    main()
