"""Fuzz every operation of the OpenAPI schema with schemathesis: whatever it sends, the service
never answers a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from facerec.wsgi import application
from tests.conftest import add_photos

pytestmark = pytest.mark.slow


@pytest.fixture
def fuzz_key(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg")
    return alice.key


@pytest.fixture
def api_schema(db):
    # Called in-process, the WSGI app would close the test's database connection after each
    # request (Django's test client disconnects these handlers the same way).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_server_errors(api_schema, fuzz_key):
    # schemathesis' own pytest plugin predates pytest 9, so drive its strategies with hypothesis here.
    server_errors, calls = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            nonlocal calls
            calls += 1
            response = case.call(headers={"Authorization": f"Bearer {fuzz_key}"})
            if response.status_code >= 500:
                server_errors.append((case.method, case.formatted_path, response.status_code, response.text[:300]))

        fuzz()
    print(f"schemathesis: {calls} requests, {len(server_errors)} server errors")
    assert calls > 100
    assert server_errors == []
