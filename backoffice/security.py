"""Security headers Django does not set itself: a Content Security Policy on every response, and a
Permissions-Policy. (Django's own middleware already sends X-Content-Type-Options, Referrer-Policy,
Cross-Origin-Opener-Policy and, with ``XFrameOptionsMiddleware``, X-Frame-Options.)

The policy comes from ``settings.CONTENT_SECURITY_POLICY`` (directive → sources). The back office
ships no inline script or style at all, so scripts and styles are ``'self'`` only. Pages of other
packages that carry an inline ``<style>`` block (the Django admin's change list, Swagger UI) are
listed in ``CONTENT_SECURITY_POLICY_INLINE_STYLE_PATHS`` and get ``'unsafe-inline'`` for styles
only; scripts stay ``'self'`` everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_HEADER = "Content-Security-Policy"


def csp_header_value(policy: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        policy: dict[str, list[str]] = {
            directive: list(sources)
            for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
        }
        self.strict = csp_header_value(policy)
        relaxed = dict(policy)
        relaxed["style-src"] = [*policy.get("style-src", ["'self'"]), "'unsafe-inline'"]
        self.inline_style = csp_header_value(relaxed)
        self.inline_style_paths = tuple(settings.CONTENT_SECURITY_POLICY_INLINE_STYLE_PATHS)
        self.permissions_policy = settings.PERMISSIONS_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if CSP_HEADER not in response.headers:
            inline = request.path.startswith(self.inline_style_paths)
            response.headers[CSP_HEADER] = self.inline_style if inline else self.strict
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response
