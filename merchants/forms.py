"""The back office's forms for stores, members and API keys. They check what a person can fix
(with translated messages); the services stay the source of truth and their refusals are shown
on the fields they concern."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from backoffice.labels import LABELS
from merchants.errors import DomainError
from merchants.models import ApiKey, Membership


class DomainErrorFormMixin:
    """Show a service's ``DomainError`` on the form: its field errors on those fields (the rest,
    and a refusal without field errors, at the top of the form)."""

    def add_domain_error(self, error: DomainError) -> None:
        if not error.errors:
            self.add_error(None, error.message)  # type: ignore[attr-defined]
            return
        for field, messages in error.errors.items():
            target = field if field in self.fields else None  # type: ignore[attr-defined]
            for message in messages:
                self.add_error(target, message)  # type: ignore[attr-defined]


STORE_CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    _("Use ASCII letters, digits, '_', '.' or '-', starting with a letter or a digit."),
    code="invalid",
)


class StoreForm(DomainErrorFormMixin, forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        validators=[STORE_CODE_VALIDATOR],
        help_text=_("Your own code for the store, as your checkout sends it (e.g. SH-NJW)."),
    )
    name = forms.CharField(label=_("Name"), max_length=120)
    city = forms.CharField(label=_("City"), max_length=80, required=False)

    def add_domain_error(self, error: DomainError) -> None:
        if "code" in error.errors and "already exists" in " ".join(error.errors["code"]):
            self.add_error("code", _("Another store already has this code."))
            return
        super().add_domain_error(error)


def _role_choices() -> list[tuple[str, object]]:
    return [(role, LABELS["role"][role]) for role in Membership.Role.values]


class MemberInviteForm(DomainErrorFormMixin, forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=_role_choices, initial=Membership.Role.VIEWER)

    def add_domain_error(self, error: DomainError) -> None:
        if "email" in error.errors and "already a member" in " ".join(error.errors["email"]):
            self.add_error("email", _("This person is already a member."))
            return
        super().add_domain_error(error)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=_role_choices)


class ApiKeyCreateForm(DomainErrorFormMixin, forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        required=False,
        help_text=_("What the key is for, e.g. “web checkout”."),
    )
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=[(mode, LABELS["mode"][mode]) for mode in ApiKey.Mode.values],
        initial=ApiKey.Mode.TEST,
        widget=forms.RadioSelect,
        help_text=_("Test keys make test plans: priced alike, never charged or settled."),
    )


class ApiKeyRotateForm(forms.Form):
    revoke_old = forms.BooleanField(
        label=_("Revoke the old key at once"),
        required=False,
        help_text=_("Otherwise both keys work until you revoke the old one."),
    )
