"""The checkout API (DESIGN.md §6): ``/api/v1/quotes`` and ``/api/v1/plans`` with void and refunds.

Views are thin: parse strictly, then call the services. The order in which problems are reported
follows §6: 401 → 429 (DRF, before the view) → ``idempotency_key_required`` → ``validation_error``
→ the idempotency outcomes → 403 → 404 → ``quote_expired`` → duplicates → business outcomes."""

from __future__ import annotations

import json
import uuid
import zoneinfo
from datetime import UTC
from typing import Any

import django_filters
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from campaigns.matching import Basket
from installments.idempotency import HEADER, idempotency_key_of, idempotent
from installments.plan_models import Plan, PlanStatus, Refund
from installments.plans import plan_commit, plan_get, plan_refund, plan_void
from installments.quotes import quote_create
from installments.serializers import (
    EmptySerializer,
    PlanCreateSerializer,
    QuoteRequestSerializer,
    RefundCreateSerializer,
    plan_json,
    quote_json,
    quote_request_basket,
    refund_json,
    statement_json,
)
from installments.settlement import statement_csv_response, statement_list
from installments.settlement_models import Statement
from merchants.api_auth import ApiKeyAuthentication, ApiPrincipal, bearer_key
from merchants.api_base import (
    ApiKeyRateThrottle,
    StrictJSONParser,
    json_response_bytes,
    principal,
    problem_responses,
)
from merchants.errors import DomainError
from merchants.models import ApiKey
from merchants.selectors import api_key_authenticate

_IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per operation; a retry with the same key and body replays the "
    "stored outcome (with `Idempotent-Replayed: true`).",
)

_SCHEDULE = inline_serializer(
    "Installment",
    {
        "period": serializers.IntegerField(),
        "due_date": serializers.DateField(),
        "principal": serializers.IntegerField(),
        "fee": serializers.IntegerField(),
        "amount": serializers.IntegerField(),
    },
    many=True,
)
_CAMPAIGN_REF = inline_serializer(
    "CampaignRef",
    {"id": serializers.UUIDField(), "name": serializers.CharField()},
    allow_null=True,
)
_OPTION = inline_serializer(
    "Option",
    {
        "term": serializers.IntegerField(),
        "interest_free": serializers.BooleanField(),
        "consumer_fee": serializers.IntegerField(),
        "merchant_subsidy": serializers.IntegerField(),
        "apr": serializers.CharField(),
        "total_payable": serializers.IntegerField(),
        "campaign": _CAMPAIGN_REF,
        "schedule": _SCHEDULE,
    },
)
_QUOTE = inline_serializer(
    "Quote",
    {
        "quote_id": serializers.CharField(),
        "expires_at": serializers.DateTimeField(),
        "currency": serializers.CharField(),
        "amount": serializers.IntegerField(),
        "government_subsidy": serializers.IntegerField(),
        "financed_amount": serializers.IntegerField(),
        "options": serializers.ListField(child=_OPTION),
    },
)
_PLAN = inline_serializer(
    "Plan",
    {
        "id": serializers.UUIDField(),
        "status": serializers.ChoiceField(choices=PlanStatus.values),
        "test": serializers.BooleanField(),
        "merchant_order_ref": serializers.CharField(),
        "term": serializers.IntegerField(),
        "currency": serializers.CharField(),
        "order_amount": serializers.IntegerField(),
        "government_subsidy": serializers.IntegerField(),
        "financed_amount": serializers.IntegerField(),
        "original_financed_amount": serializers.IntegerField(),
        "eligible_amount": serializers.IntegerField(),
        "consumer_fee_full": serializers.IntegerField(),
        "waived_fee": serializers.IntegerField(),
        "consumer_fee": serializers.IntegerField(),
        "merchant_subsidy": serializers.IntegerField(),
        "interest_free": serializers.BooleanField(),
        "total_payable": serializers.IntegerField(),
        "apr": serializers.CharField(),
        "campaign": _CAMPAIGN_REF,
        "pricing": inline_serializer(
            "PlanPricing",
            {
                "consumer_rate": serializers.CharField(),
                "merchant_rate": serializers.CharField(),
                "merchant_share_bp": serializers.IntegerField(),
                "statement_day": serializers.IntegerField(),
                "due_day": serializers.IntegerField(),
                "rounding": serializers.CharField(),
                "purchase_date": serializers.DateField(),
            },
        ),
        "consumer_ref": serializers.CharField(allow_null=True),
        "store": serializers.CharField(allow_null=True),
        "channel": serializers.CharField(allow_null=True),
        "schedule": _SCHEDULE,
        "lines": inline_serializer(
            "PlanLine",
            {
                "sku": serializers.CharField(),
                "category": serializers.CharField(allow_blank=True),
                "amount": serializers.IntegerField(),
                "in_scope": serializers.BooleanField(),
                "returned": serializers.IntegerField(),
            },
            many=True,
        ),
        "refunded_amount": serializers.IntegerField(),
        "created_at": serializers.DateTimeField(),
        "voided_at": serializers.DateTimeField(allow_null=True),
    },
)
_REFUND_FIELDS = {
    "id": serializers.UUIDField(),
    "plan_id": serializers.UUIDField(),
    "refund_ref": serializers.CharField(),
    "amount": serializers.IntegerField(),
    "lines": serializers.ListField(child=serializers.DictField()),
    "reason": serializers.CharField(allow_blank=True),
    "subsidy_reversed": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(),
}
_REFUND = inline_serializer("Refund", _REFUND_FIELDS)
_REFUND_PAGE = inline_serializer(
    "RefundPage",
    {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": inline_serializer("RefundItem", _REFUND_FIELDS, many=True),
    },
)
_REFUND_WITH_PLAN = inline_serializer("RefundWithPlan", {**_REFUND_FIELDS, "plan": _PLAN})


def _tz(request: Request) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(principal(request).merchant.timezone)


def _run_idempotent(request: Request, work: Any) -> HttpResponse:
    who = principal(request)
    key = idempotency_key_of(request.headers)
    return idempotent(
        merchant_id=who.merchant.pk,
        mode=who.api_key.mode,
        method=request.method or "POST",
        path=request.path,
        key=key,
        body=request.data,
        work=work,
    )


class QuoteView(APIView):
    """``POST /api/v1/quotes``.

    Every checkout asks for a quote, so the common request takes a lane past DRF's dispatch
    (``_lane``): it authenticates the key, counts it against the rate limit and parses the body
    as DRF would, with the API's own functions, and only for a request where DRF would do exactly
    that (the ``application/json`` body of a well-formed basket, a bearer key this process knows,
    no content negotiation to do). Anything else, before anything has been counted, goes through
    DRF's dispatch as every other endpoint does. Errors raised once in the lane are answered by
    DRF's exception handling, so both give the same problem responses."""

    api_key_may_be_recent = True  # a quote moves no money: merchants/recent_keys.py

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            taken = _lane(request) if self._lane_applies() else None
        except Exception:  # the key's lookup failed (an outage): DRF's dispatch answers it, 503
            taken = None
        if taken is None:
            return super().dispatch(request, *args, **kwargs)
        api_key, currency, basket = taken
        self.args, self.kwargs, self.request = args, kwargs, request
        self.headers = self.default_response_headers
        who = ApiPrincipal(api_key)
        request.user = who  # as DRF's authentication leaves it
        try:
            throttle = ApiKeyRateThrottle()
            if not throttle.allow_api_key(api_key.pk):
                raise exceptions.Throttled(throttle.wait())
            response = self._quote(who, currency, basket)
        except Exception as exc:
            return self._lane_failed(request, who, exc)
        return self.finalize_response(request, response)

    def _lane_applies(self) -> bool:
        """The lane does what these classes do; a view configured otherwise takes DRF's path."""
        return (
            self.authentication_classes == [ApiKeyAuthentication]
            and self.permission_classes == [IsAuthenticated]
            and self.throttle_classes == [ApiKeyRateThrottle]
            and self.parser_classes == [StrictJSONParser]
            and self.renderer_classes == [JSONRenderer]
        )

    def _lane_failed(self, request: HttpRequest, who: ApiPrincipal, exc: Exception) -> Any:
        """The answer DRF's dispatch gives when the view raises ``exc``."""
        drf_request = self.initialize_request(request, *self.args, **self.kwargs)
        drf_request.user, drf_request.auth = who, who.api_key
        self.request = drf_request
        self.format_kwarg = self.get_format_suffix(**self.kwargs)
        negotiated = self.perform_content_negotiation(drf_request)  # JSON: the lane made sure
        drf_request.accepted_renderer, drf_request.accepted_media_type = negotiated
        response = self.handle_exception(exc)
        self.response = self.finalize_response(drf_request, response, *self.args, **self.kwargs)
        return self.response

    @extend_schema(
        summary="Quote the installment options for a basket",
        description="Valid for 15 minutes. Options are ordered by term; terms whose limits exclude "
        "the financed amount are left out.",
        request=QuoteRequestSerializer,
        responses={
            200: _QUOTE,
            **problem_responses(
                "validation_error", "merchant_frozen", "below_minimum", "above_maximum"
            ),
        },
    )
    def post(self, request: Request) -> HttpResponse:
        parsed = quote_request_basket(request.data)
        if parsed is None:  # not the common well-formed case: the serializer decides
            serializer = QuoteRequestSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            parsed = serializer.validated_data["currency"], serializer.to_basket()
        currency, basket = parsed
        return self._quote(principal(request), currency, basket)

    def _quote(self, who: ApiPrincipal, currency: str, basket: Basket) -> HttpResponse:
        merchant = who.merchant
        quote = quote_create(
            merchant=merchant,
            test=who.is_test_mode,
            currency=currency,
            basket=basket,
            recent=True,
        )
        # Rendered here, to the bytes DRF's JSON renderer would give: a plain response skips the
        # template-response machinery a Response goes through.
        body = quote_json(quote, tz=zoneinfo.ZoneInfo(merchant.timezone))
        return HttpResponse(json_response_bytes(body), content_type="application/json")


# What the lane takes: the media types for which DRF's negotiation picks its JSON renderer with no
# parameters, and bodies well below Django's own limit (DRF reads any size; the lane reads
# ``request.body``, which refuses more than DATA_UPLOAD_MAX_MEMORY_SIZE).
_LANE_ACCEPT = frozenset({None, "*/*", "application/json"})
_LANE_MAX_BODY = 256 * 1024
# DRF's JSON parser's decoding (strict: no NaN or Infinity), built once rather than per call.
_LANE_DECODER = json.JSONDecoder(parse_constant=strict_constant)


def _lane(request: HttpRequest) -> tuple[ApiKey, str, Basket] | None:
    """The key, currency and basket of a quote request that DRF would authenticate and parse
    into the common well-formed basket, or None: then DRF's dispatch decides. Nothing here
    counts, writes or answers; a key lookup from the database marks the key as used, as DRF's
    authentication of it would."""
    meta = request.META
    if (
        request.method != "POST"
        or meta.get("CONTENT_TYPE") != "application/json"
        or meta.get("HTTP_ACCEPT") not in _LANE_ACCEPT
        or meta.get("QUERY_STRING")  # ?format= is content negotiation
    ):
        return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
        if not 0 < length <= _LANE_MAX_BODY:
            return None
        raw_key = bearer_key(meta.get("HTTP_AUTHORIZATION", "").encode("latin-1"))
        data = _LANE_DECODER.decode(request.body.decode("utf-8"))
    except (exceptions.AuthenticationFailed, RequestDataTooBig, ValueError, RecursionError):
        return None  # UnicodeError and JSONDecodeError are ValueErrors
    parsed = quote_request_basket(data)
    if raw_key is None or parsed is None:
        return None
    api_key = api_key_authenticate(raw_key=raw_key, recent=True)
    if api_key is None:
        return None
    return api_key, *parsed


class _UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC here: PostgreSQL refuses offsets beyond ±15:59 that Python
    accepts, and a time at the calendar's edge may not exist in UTC at all (400, not 500)."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValidationError("This time is out of range.", code="invalid") from exc


class _UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


class PlanFilter(django_filters.FilterSet):
    merchant_order_ref = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    created_after = _UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = _UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Plan
        fields: list[str] = []


class PlanViewSet(viewsets.GenericViewSet):
    queryset = Plan.objects.none()  # every query is scoped in get_queryset
    filterset_class = PlanFilter
    lookup_value_regex = "[^/]+"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Plan.objects.none()
        who = principal(self.request)
        return Plan.objects.filter(merchant=who.merchant, test=who.is_test_mode).prefetch_related(
            "installments", "lines"
        )

    def _plan(self, pk: str) -> Plan:
        who = principal(self.request)
        plan = plan_get(merchant=who.merchant, test=who.is_test_mode, plan_id=pk)
        if plan is None:
            raise DomainError("not_found", "No such plan.")
        return plan

    @extend_schema(
        summary="List plans",
        responses={200: _PLAN, **problem_responses("validation_error", "not_found")},
    )
    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        tz = _tz(request)
        return self.get_paginated_response([plan_json(plan, tz=tz) for plan in page])

    @extend_schema(summary="Get a plan", responses={200: _PLAN, **problem_responses("not_found")})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(plan_json(self._plan(pk), tz=_tz(request)))

    @extend_schema(
        summary="Commit a quoted option as a plan",
        description="Re-prices from the quote's inputs at the server's clock and reserves the "
        "campaign's budget. `409 offer_changed` carries the option as it now stands.",
        parameters=[_IDEMPOTENCY_PARAMETER],
        request=PlanCreateSerializer,
        responses={
            201: _PLAN,
            **problem_responses(
                "idempotency_key_required",
                "validation_error",
                "idempotency_key_in_use",
                "idempotency_key_reused",
                "merchant_frozen",
                "not_found",
                "quote_expired",
                "duplicate_order_ref",
                "offer_changed",
            ),
        },
    )
    def create(self, request: Request) -> HttpResponse:
        idempotency_key_of(request.headers)  # required before the body is looked at (§6)
        serializer = PlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        who = principal(request)
        data = serializer.validated_data

        def work() -> Response:
            plan = plan_commit(
                merchant=who.merchant,
                test=who.is_test_mode,
                quote_id=data["quote_id"],
                term=data["term"],
                merchant_order_ref=data["merchant_order_ref"],
            )
            return Response(plan_json(plan, tz=_tz(request)), status=status.HTTP_201_CREATED)

        return _run_idempotent(request, work)

    @extend_schema(
        summary="Void a plan",
        description="Within 24 hours of its commit, for a checkout whose payment failed.",
        parameters=[_IDEMPOTENCY_PARAMETER],
        request=None,
        responses={
            200: _PLAN,
            **problem_responses(
                "idempotency_key_required",
                "validation_error",
                "idempotency_key_in_use",
                "idempotency_key_reused",
                "not_found",
                "plan_not_voidable",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def void(self, request: Request, pk: str) -> HttpResponse:
        idempotency_key_of(request.headers)
        # No body at all parses to an empty QueryDict; any JSON sent must be an empty object
        # (a falsy body such as [] or false is still a body, and refused).
        body = {} if isinstance(request.data, QueryDict) and not request.data else request.data
        EmptySerializer(data=body).is_valid(raise_exception=True)
        who = principal(request)

        def work() -> Response:
            plan = plan_void(merchant=who.merchant, test=who.is_test_mode, plan_id=pk)
            return Response(plan_json(plan, tz=_tz(request)))

        return _run_idempotent(request, work)

    @extend_schema(
        methods=["GET"],
        summary="List a plan's refunds",
        responses={200: _REFUND_PAGE, **problem_responses("not_found")},
    )
    @extend_schema(
        methods=["POST"],
        summary="Refund part or all of a plan",
        description="Re-prices the plan (§3.4) and gives the released subsidy back to the "
        "campaign's budget.",
        parameters=[_IDEMPOTENCY_PARAMETER],
        request=RefundCreateSerializer,
        responses={
            201: _REFUND_WITH_PLAN,
            **problem_responses(
                "idempotency_key_required",
                "validation_error",
                "idempotency_key_in_use",
                "idempotency_key_reused",
                "not_found",
                "duplicate_refund_ref",
                "refund_exceeds_balance",
            ),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def refunds(self, request: Request, pk: str) -> HttpResponse | Response:
        if request.method == "GET":
            plan = self._plan(pk)
            refunds = Refund.objects.filter(merchant_id=plan.merchant_id, plan=plan)
            page = self.paginate_queryset(refunds)
            tz = _tz(request)
            return self.get_paginated_response([refund_json(r, tz=tz) for r in page])
        idempotency_key_of(request.headers)
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        who = principal(request)

        def work() -> Response:
            refund = plan_refund(
                merchant=who.merchant,
                test=who.is_test_mode,
                plan_id=pk,
                amount=data["amount"],
                refund_ref=data["refund_ref"],
                lines=[(line["sku"], line["amount"]) for line in data["lines"]]
                if data.get("lines")
                else None,
                reason=data["reason"],
            )
            plan = Plan.objects.prefetch_related("installments", "lines").get(pk=refund.plan_id)
            return Response(
                refund_json(refund, tz=_tz(request), plan=plan), status=status.HTTP_201_CREATED
            )

        return _run_idempotent(request, work)


_STATEMENT = inline_serializer(
    "Statement",
    {
        "id": serializers.UUIDField(),
        "business_date": serializers.DateField(),
        "currency": serializers.CharField(),
        "plans_charged": serializers.IntegerField(),
        "charges": serializers.IntegerField(),
        "reversals": serializers.IntegerField(),
        "net": serializers.IntegerField(),
        "created_at": serializers.DateTimeField(),
        "lines": inline_serializer(
            "StatementLine",
            {
                "campaign_id": serializers.UUIDField(),
                "campaign_name": serializers.CharField(),
                "adjustment": serializers.BooleanField(),
                "plans_charged": serializers.IntegerField(),
                "charges": serializers.IntegerField(),
                "reversals": serializers.IntegerField(),
                "net": serializers.IntegerField(),
            },
            many=True,
        ),
    },
)
_FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=["json", "csv"],
    description="`csv` gives the statement as CSV (DESIGN.md §7's columns).",
)


class _JsonUnlessCsv(DefaultContentNegotiation):
    """Statements read ``?format=`` themselves (json or csv); DRF's renderer switch would answer
    ``?format=csv`` with a 404 because no CSV renderer is registered."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        renderer = renderers[0]
        return renderer, renderer.media_type


class StatementViewSet(viewsets.GenericViewSet):
    """A merchant's settlement statements. Test-mode keys have none: test plans never settle."""

    queryset = Statement.objects.none()
    content_negotiation_class = _JsonUnlessCsv
    lookup_value_regex = "[^/]+"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Statement.objects.none()
        who = principal(self.request)
        if who.is_test_mode:
            return Statement.objects.none()
        return statement_list(merchant_id=who.merchant.pk).prefetch_related("lines")

    @extend_schema(
        summary="List settlement statements",
        responses={200: _STATEMENT, **problem_responses("not_found")},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        tz = _tz(request)
        return self.get_paginated_response([statement_json(s, tz=tz) for s in page])

    @extend_schema(
        summary="Get a statement (JSON, or CSV with ?format=csv)",
        parameters=[_FORMAT_PARAMETER],
        responses={
            (200, "application/json"): _STATEMENT,
            (200, "text/csv"): OpenApiTypes.STR,
            **problem_responses("validation_error", "not_found"),
        },
    )
    def retrieve(self, request: Request, pk: str) -> HttpResponse | Response:
        wanted = request.query_params.get("format", "json")
        if wanted not in ("json", "csv"):
            raise DomainError.validation("format", "json or csv.")
        try:
            statement = self.get_queryset().filter(pk=uuid.UUID(pk)).first()
        except ValueError:
            statement = None
        if statement is None:
            raise DomainError("not_found", "No such statement.")
        if wanted == "csv":
            return statement_csv_response(statement)
        return Response(statement_json(statement, tz=_tz(request)))
