from django.contrib import admin
from django.urls import include, path

from facerec import health
from recognition import apis

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/recognize", apis.RecognizeApi.as_view(), name="api-recognize"),
    path("api/v1/compare", apis.CompareApi.as_view(), name="api-compare"),
    path("api/v1/", include("gallery.urls")),
]
