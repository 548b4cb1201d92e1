from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from facerec import health
from facerec.media import protected_media
from facerec.openapi import schema_view

admin.site.site_header = "facerec"
admin.site.site_title = "facerec admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask every site for /favicon.ico; pages link the SVG (templates/admin/base_site.html).
    path("favicon.ico", RedirectView.as_view(url=static("facerec/favicon.ico"), permanent=True)),
    path("media/<path:path>", protected_media, name="media"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    # The schema generator is loaded by these two views' first request, never by a worker that only answers.
    path("api/v1/schema", schema_view("SpectacularAPIView"), name="api-schema"),
    path("api/docs", schema_view("SpectacularSwaggerView", url_name="api-schema"), name="api-docs"),
    # Each app serves its own routes: recognition the answers (recognize, compare, the legacy route and
    # the web page), gallery the data (domains, persons, photos, tasks).
    path("", include("recognition.urls")),
    path("api/v1/", include("gallery.urls")),
]

handler404 = "facerec.errors.page_not_found"
handler500 = "facerec.errors.server_error"
