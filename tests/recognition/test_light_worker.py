"""A process that serves only Dlib domains (on dlib's chip or on DeepFace's crop) never imports
DeepFace or TensorFlow: it warms its models, passes the system checks and answers recognize
requests on dlib, numpy and Pillow alone. The check runs in a fresh process, since this test
process may have imported DeepFace for another test."""

import json
import subprocess
import sys

from gallery.models import Domain
from tests.conftest import FACES, add_photos
from tests.gallery.conftest import ROOT, subprocess_env

SERVE = """
import json, sys
import django

django.setup()
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver

from facerec.warmup import warm_models

warmed = warm_models()
call_command("check", databases=["default"])
get_resolver().url_patterns  # every view, serializer and schema module
answers = {}
for key, photo in json.loads(sys.argv[1]):
    with open(photo, "rb") as image:
        response = Client().post("/api/v1/recognize", {"image": image}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    body = response.json()
    answers[body["domain"]] = [face["match"] and face["match"]["person"]["name"] for face in body["faces"]]
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"deepface", "tensorflow", "keras", "tf_keras"})
print(json.dumps({"warmed": warmed, "answers": answers, "heavy_modules": heavy}))
"""


def test_dlib_only_process_serves_recognize_without_deepface_or_tensorflow(transactional_db, alpha, alice, beta, bob):
    Domain.objects.filter(pk=beta.pk).update(alignment="deepface")  # as an import_pkl domain is
    beta.refresh_from_db()
    for domain in (alpha, beta):
        add_photos(domain, "Angelina", "img1.jpg", "img2.jpg")
        add_photos(domain, "Other", "img17.jpg")
    requests = [[alice.key, str(FACES / "img4.jpg")], [bob.key, str(FACES / "img4.jpg")]]

    done = subprocess.run([sys.executable, "-c", SERVE, json.dumps(requests)], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["answers"] == {"alpha": ["Angelina"], "beta": ["Angelina"]}
    assert ["Dlib", "dlib"] in result["warmed"]
    assert result["heavy_modules"] == []
