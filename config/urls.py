from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import health, outages

# An outage (PostgreSQL, Redis, the broker) that escapes a view answers 503, not 500.
handler500 = outages.server_error

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (``?script``), not inline, so
    # the docs work under the Content Security Policy (backoffice.security).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # The merchant back office (DESIGN.md §10): the dashboard at /, its pages and /accounts/.
    path("", include("backoffice.urls")),
]
