"""``/api/v1/``: the checkout REST API (DESIGN.md §6)."""

from rest_framework.routers import SimpleRouter

from campaigns.apis import CampaignViewSet
from merchants.apis import StoreViewSet

router = SimpleRouter(trailing_slash=False)
router.register("stores", StoreViewSet, basename="store")
router.register("campaigns", CampaignViewSet, basename="campaign")

urlpatterns = router.urls
