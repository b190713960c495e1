"""``/api/v1/stores``: a merchant's stores (DESIGN.md §6)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from merchants.api_base import (
    StrictBooleanField,
    StrictCharField,
    StrictObjectSerializerMixin,
    principal,
    problem_responses,
)
from merchants.errors import DomainError
from merchants.models import Store
from merchants.selectors import store_list
from merchants.services import store_create, store_update


class StoreSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    id = serializers.CharField(read_only=True)
    code = StrictCharField(max_length=32)
    name = StrictCharField(max_length=120)
    city = StrictCharField(max_length=80, required=False, allow_blank=True, default="")
    active = StrictBooleanField(required=False, default=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"request": ["Send a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(
            {k: v for k, v in data.items() if k not in {"id", "created_at", "updated_at"}}
        )

    def to_representation(self, instance: Store) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["id"] = str(instance.pk)
        return data


_errors = problem_responses("validation_error", "not_found")


@extend_schema_view(
    list=extend_schema(
        summary="List stores",
        responses={200: StoreSerializer(many=True), **problem_responses("not_found")},
    ),
    retrieve=extend_schema(summary="Get a store", responses={200: StoreSerializer, **_errors}),
    create=extend_schema(summary="Open a store", responses={201: StoreSerializer, **_errors}),
    update=extend_schema(summary="Replace a store", responses={200: StoreSerializer, **_errors}),
    partial_update=extend_schema(
        summary="Change a store (e.g. deactivate it)", responses={200: StoreSerializer, **_errors}
    ),
)
class StoreViewSet(viewsets.GenericViewSet):
    serializer_class = StoreSerializer
    queryset = Store.objects.none()  # every query is scoped in get_queryset

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Store.objects.none()
        return store_list(merchant=principal(self.request).merchant)

    def get_object(self) -> Store:
        pk = self.kwargs["pk"]
        valid = pk.isascii() and pk.isdigit() and len(pk) < 19
        store = self.get_queryset().filter(pk=int(pk)).first() if valid else None
        if store is None:
            raise DomainError("not_found", "No such store.")
        return store

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = store_create(merchant=principal(request).merchant, **serializer.validated_data)
        return Response(self.get_serializer(store).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        store = store_update(store=self.get_object(), **serializer.validated_data)
        return Response(self.get_serializer(store).data)
