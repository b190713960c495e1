"""Pagination shared by the back office's tables."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 25


def page_of(request: HttpRequest, queryset: QuerySet, *, per_page: int = PER_PAGE) -> Page:
    """The page ``?page=`` asks for; a page number out of range or not a number gives the nearest
    page rather than an error."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
