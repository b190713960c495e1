"""The product's URLs plus two yardsticks that ``bench_api.py`` compares the checkout API with (only
the benchmark's server uses this URL conf):

- ``POST /bench/bare``: a bare DRF endpoint that returns a constant (no authentication, permission
  or throttle);
- ``POST /bench/authenticated``: the same constant behind the API's own defaults (API-key
  authentication, ``IsAuthenticated`` and the per-key throttle), to tell the cost of what every
  API request pays from the cost of the quote itself."""

from django.urls import path
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns

_CONSTANT = {"ok": True}


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def bare(request: Request) -> Response:
    return Response(_CONSTANT)


class Authenticated(APIView):
    """The REST framework settings' default authentication, permission and throttle classes."""

    def post(self, request: Request) -> Response:
        return Response(_CONSTANT)


urlpatterns = [
    path("bench/bare", bare, name="bench-bare"),
    path("bench/authenticated", Authenticated.as_view(), name="bench-authenticated"),
    *product_urlpatterns,
]
