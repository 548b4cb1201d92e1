"""Where a recognize request spends its time: the whole Django/DRF stack in-process under
pyinstrument (``python -m bench.profile_recognize [--requests N] [--domain SLUG] [--html FILE]``).

Uses the bench database (run ``make bench-quick`` once first so that the domain exists).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.env import ROOT, use_bench_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30, help="Requests profiled (after 5 warm-up ones)")
    parser.add_argument("--domain", default="bench-d128-30k", help="Domain to search")
    parser.add_argument("--photo", type=Path, default=ROOT / "tests/data/faces/img1.jpg", help="Photo to send")
    parser.add_argument("--html", type=Path, help="Also write the profile as HTML here")
    args = parser.parse_args()
    use_bench_database()
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    from gallery.models import Domain
    from gallery.services import api_key_create

    domain = Domain.objects.get(slug=args.domain)
    _, key = api_key_create(name="profile", domains=[domain])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    data = args.photo.read_bytes()

    def once() -> None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = client.post("/api/v1/recognize", {"image": SimpleUploadedFile("p.jpg", data, "image/jpeg")})
        assert response.status_code == 200, response.content

    for _ in range(5):
        once()
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(args.requests):
            once()
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
