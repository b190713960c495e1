"""Sign-in and password-reset forms, throttled (``backoffice.throttle``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.throttle import client_address, login_throttle, password_reset_throttle


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing a username from an address after too many failures.

    A locked-out pair is refused before the password is checked, so a correct guess during the
    lock-out learns nothing; a successful sign-in clears the count."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _("Too many failed sign-in attempts. Try again later."),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request) if self.request else ""
        throttle = login_throttle()
        wait = throttle.retry_after(identity=username, address=address)
        if wait:
            raise self._throttled(wait)
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.hit(identity=username, address=address)
            raise
        throttle.clear(identity=username, address=address)
        return cleaned

    def _throttled(self, seconds: int) -> forms.ValidationError:
        minutes = _minutes(seconds)
        message = ngettext(
            "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
            "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
        self.retry_after = seconds
        return forms.ValidationError(message, code="throttled")


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form: it never tells whether the address is known; requests for one address
    from one client are limited so the form cannot be used to flood a mailbox."""

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        address = client_address(self.request) if self.request else ""
        throttle = password_reset_throttle()
        if throttle.retry_after(identity=email, address=address):
            raise forms.ValidationError(
                _("Too many reset requests for this address. Try again later."), code="throttled"
            )
        throttle.hit(identity=email, address=address)
        return email
