import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import face_bytes


@pytest.fixture
def three_per_minute(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**api_settings.DEFAULT_THROTTLE_RATES, "api_key": "3/min"})
    cache.clear()
    yield
    cache.clear()


def _recognize(persona):
    upload = SimpleUploadedFile("a.jpg", face_bytes("img1.jpg"), content_type="image/jpeg")
    return persona.client.post("/api/v1/recognize", {"image": upload}, format="multipart")


def test_requests_beyond_the_rate_are_429_per_key(alpha, alice, charlie, three_per_minute):
    statuses = [_recognize(alice).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = _recognize(alice)
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # another key has its own budget
    assert _recognize(charlie).status_code == 200


def test_throttle_counts_live_in_the_shared_cache(alpha, alice, three_per_minute):
    from django.conf import settings

    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    _recognize(alice)
    assert any(b"throttle_api_key" in key for key in cache._cache.get_client().keys("*"))
