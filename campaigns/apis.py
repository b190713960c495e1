"""``/api/v1/campaigns``: a merchant's campaigns and their lifecycle actions (DESIGN.md §4, §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import campaign_get, campaign_list
from campaigns.serializers import CampaignSerializer
from campaigns.services import (
    Actor,
    campaign_cancel,
    campaign_create,
    campaign_duplicate,
    campaign_end,
    campaign_pause,
    campaign_reopen,
    campaign_resume,
    campaign_submit,
    campaign_update,
)
from merchants.api_base import ensure_not_frozen, principal, problem_responses
from merchants.errors import DomainError

CAMPAIGN_EXAMPLE = OpenApiExample(
    "Singles' Day phones",
    value={
        "name": "Singles' Day phones",
        "description": "",
        "starts_at": "2026-11-01T00:00:00+08:00",
        "ends_at": "2026-11-12T00:00:00+08:00",
        "offers": [
            {"term": 12, "merchant_share_bp": 10000, "min_amount": 300000},
            {"term": 6, "merchant_share_bp": 10000, "min_amount": 10000},
        ],
        "scope": {
            "all_products": False,
            "categories": ["phones"],
            "skus": [],
            "exclude_skus": ["P70-REFURB"],
        },
        "stores": [],
        "channels": ["online", "in_store"],
        "min_amount": 10000,
        "max_amount": None,
        "budget": {
            "total": 10000000,
            "daily_cap": None,
            "alert_threshold_bp": 8000,
            "alert_emails": [],
        },
        "per_consumer_limit": None,
        "stacks_with_government_subsidy": True,
    },
    request_only=True,
)

_action_schema = extend_schema(
    request=None,
    responses={
        200: CampaignSerializer,
        **problem_responses(
            "validation_error", "merchant_frozen", "not_found", "invalid_transition"
        ),
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns",
        responses={
            200: CampaignSerializer(many=True),
            **problem_responses("validation_error", "not_found"),
        },
    ),
    retrieve=extend_schema(
        summary="Get a campaign",
        responses={200: CampaignSerializer, **problem_responses("not_found")},
    ),
    create=extend_schema(
        summary="Create a draft campaign",
        examples=[CAMPAIGN_EXAMPLE],
        responses={
            201: CampaignSerializer,
            **problem_responses("validation_error", "merchant_frozen"),
        },
    ),
    update=extend_schema(
        summary="Replace a campaign's settings",
        description="A draft changes freely. After approval only `budget.total` may rise and "
        "`ends_at` move later; a raise above the auto-approval threshold waits for review "
        "(`pending_budget_total`).",
        responses={
            200: CampaignSerializer,
            **problem_responses(
                "validation_error", "merchant_frozen", "not_found", "invalid_transition"
            ),
        },
    ),
    partial_update=extend_schema(
        summary="Change some of a campaign's settings",
        responses={
            200: CampaignSerializer,
            **problem_responses(
                "validation_error", "merchant_frozen", "not_found", "invalid_transition"
            ),
        },
    ),
)
class CampaignViewSet(viewsets.GenericViewSet):
    serializer_class = CampaignSerializer
    lookup_value_regex = "[^/]+"
    queryset = Campaign.objects.none()  # every query is scoped in get_queryset

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Campaign.objects.none()
        return campaign_list(merchant=principal(self.request).merchant)

    def get_serializer(self, *args: Any, **kwargs: Any) -> CampaignSerializer:
        if not getattr(self, "swagger_fake_view", False):
            kwargs["merchant"] = principal(self.request).merchant
        return CampaignSerializer(*args, **kwargs)

    def _actor(self) -> Actor:
        return Actor.api_key(principal(self.request).api_key)

    def get_object(self) -> Campaign:
        campaign = campaign_get(
            merchant=principal(self.request).merchant, campaign_id=self.kwargs["pk"]
        )
        if campaign is None:
            raise DomainError("not_found", "No such campaign.")
        return campaign

    def list(self, request: Request) -> Response:
        queryset = self.get_queryset()
        status_filter = request.query_params.get("status")
        if status_filter:
            wanted = status_filter.split(",")
            unknown = sorted(set(wanted) - set(CampaignStatus.values))
            if unknown:
                raise DomainError.validation("status", f"Unknown status: {', '.join(unknown)}.")
            queryset = queryset.filter(status__in=wanted)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        # Precedence (§6): validation_error, then merchant_frozen, then not_found.
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ensure_not_frozen(request)
        campaign = campaign_create(
            merchant=principal(request).merchant,
            actor=self._actor(),
            data=serializer.to_campaign_input(),
        )
        return Response(self._fresh(campaign), status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        ensure_not_frozen(request)
        campaign = self.get_object()
        updated = campaign_update(
            campaign=campaign, actor=self._actor(), data=serializer.to_campaign_input(campaign)
        )
        return Response(self._fresh(updated))

    def _fresh(self, campaign: Campaign) -> dict[str, Any]:
        campaign = campaign_get(merchant=principal(self.request).merchant, campaign_id=campaign.pk)
        return self.get_serializer(campaign).data

    def _act(self, service: Callable[..., Campaign], *, created: bool = False) -> Response:
        ensure_not_frozen(self.request)
        campaign = self.get_object()
        result = service(campaign=campaign, actor=self._actor())
        return Response(
            self._fresh(result), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @_action_schema
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        """Send a draft for review; a budget at or below the auto-approval threshold is approved at once."""
        return self._act(campaign_submit)

    @_action_schema
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        """Move a rejected campaign back to draft, to edit it and submit it again."""
        return self._act(campaign_reopen)

    @_action_schema
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return self._act(campaign_pause)

    @_action_schema
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return self._act(campaign_resume)

    @_action_schema
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        return self._act(campaign_end)

    @_action_schema
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return self._act(campaign_cancel)

    @extend_schema(
        request=None,
        responses={201: CampaignSerializer, **problem_responses("merchant_frozen", "not_found")},
    )
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str) -> Response:
        """A new draft with the same settings."""
        return self._act(campaign_duplicate, created=True)
