"""What a backup must preserve, as JSON: run with DATABASE_URL/MEDIA_ROOT of the copy under test.

    python -m tests.ops.backup_probe KEY PHOTO...

Prints row counts, every stored photo's file checked against its content hash, and the
recognize answers (through the HTTP API, authenticated with KEY) for the given photos.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys


def main(key: str, photos: list[str]) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, Person

    counts = {model.__name__: model.objects.count() for model in (Domain, Person, FacePhoto, FaceEmbedding, ApiKey)}
    files = {}
    for photo in FacePhoto.objects.order_by("content_hash"):
        with photo.image.open("rb") as handle:
            files[photo.image.name] = hashlib.sha256(handle.read()).hexdigest() == photo.content_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    answers = {}
    for path in photos:
        with open(path, "rb") as handle:
            upload = SimpleUploadedFile(os.path.basename(path), handle.read(), content_type="image/jpeg")
        response = client.post("/api/v1/recognize", {"image": upload}, format="multipart")
        body = response.json()
        body.pop("timings_ms", None)
        answers[os.path.basename(path)] = {"status": response.status_code, "body": body}
    return {"counts": counts, "files": files, "recognize": answers}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:]), sort_keys=True))
