"""The one error type of the domain.

Services raise ``DomainError`` with a stable ``code`` (the codes of DESIGN.md §6); the API maps it once
to an ``application/problem+json`` response, the back office to form errors, commands to a one-line
message and a non-zero exit.
"""

from __future__ import annotations

from typing import Any

# code -> HTTP status. The API layer uses this table; services never think in HTTP.
STATUS_BY_CODE: dict[str, int] = {
    "validation_error": 400,
    "authentication_failed": 401,
    "merchant_frozen": 403,
    "permission_denied": 403,
    "not_found": 404,
    "invalid_transition": 409,
    "idempotency_key_required": 400,
    "idempotency_key_reused": 422,
    "idempotency_key_in_use": 409,
    "quote_expired": 410,
    "offer_changed": 409,
    "duplicate_order_ref": 409,
    "duplicate_refund_ref": 409,
    "refund_exceeds_balance": 422,
    "plan_not_voidable": 409,
    "below_minimum": 422,
    "above_maximum": 422,
    "throttled": 429,
    "service_unavailable": 503,
}


class DomainError(Exception):
    """A refusal the caller can act on: a stable ``code``, a human ``message`` and optional details.

    ``errors`` maps field names to messages for validation failures; ``extra`` carries anything else
    the caller should see (for example the option as it now stands, for ``offer_changed``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}
        self.extra = extra

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]

    @classmethod
    def validation(cls, field: str, message: str) -> DomainError:
        return cls("validation_error", message, errors={field: [message]})

    def __str__(self) -> str:
        if self.errors:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in self.errors.items())
            return f"{self.message} ({details})"
        return self.message
