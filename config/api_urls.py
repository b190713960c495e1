"""``/api/v1/``: the checkout REST API (DESIGN.md §6)."""

from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from campaigns.apis import CampaignViewSet
from installments.apis import PlanViewSet, QuoteView, StatementViewSet
from merchants.api_base import problem_response
from merchants.apis import StoreViewSet


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
def not_found(request: Request) -> Response:
    return problem_response(status=404, code="not_found", detail="No such endpoint.")


router = SimpleRouter(trailing_slash=False)
router.register("stores", StoreViewSet, basename="store")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("plans", PlanViewSet, basename="plan")
router.register("settlements", StatementViewSet, basename="settlement")

urlpatterns = [
    path("quotes", QuoteView.as_view(), name="quote"),
    *router.urls,
    # Anything else under /api/v1/ is a problem+json 404, not Django's HTML page.
    re_path(r"^.*$", not_found),
]
