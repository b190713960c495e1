"""The campaign studio's forms (DESIGN.md §4, §10).

``CampaignForm`` is what a merchant types: amounts in major units (``1,000.00``), shares and the alert
threshold in percent, codes as comma-separated lists, times in the merchant's zone. It only turns
that into a ``CampaignInput`` (integer minor units and basis points, exactly: Decimal, never a float);
every rule a campaign must satisfy is the service's (``campaign_validate``, ``campaign_create``,
``campaign_update``), whose refusals come back as errors on the fields they concern, in the
merchant's language.

``PreviewBasketForm`` is the basket of the live preview: a price, optionally a government subsidy,
up to three lines, a store and a channel; it becomes matching's ``Basket``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.matching import Basket, BasketLine
from campaigns.models import Campaign, Channel
from campaigns.services import MAX_OFFERS, CampaignInput, OfferInput, window_time_exists
from merchants.currencies import CURRENCIES
from merchants.errors import DomainError
from merchants.models import Merchant

# Offer rows: a new campaign gets OFFER_ROWS; a stored one every offer it has and OFFER_SPARE_ROWS blank
# ones to add tiers, never more rows in all than the service's MAX_OFFERS (nor fewer than its offers).
OFFER_ROWS = 6
OFFER_SPARE_ROWS = 3
OFFER_FIELD = re.compile(r"offer_(\d+)_(?:term|share|min)")
LINE_ROWS = 3
# What may still change once a campaign is approved (campaigns.services.CHANGEABLE_AFTER_APPROVAL,
# in the form's own field names).
CHANGEABLE_AFTER_APPROVAL = ("budget_total", "ends_at")
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

# The guided form's steps: (key, title, the fields it holds). Offer rows are added in __init__.
STEPS: tuple[tuple[str, Promise], ...] = (
    ("basics", _("Basics")),
    ("offers", _("Offers and tiers")),
    ("scope", _("Scope and stores")),
    ("budget", _("Budget and alerts")),
    ("review", _("Review")),
)
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "basics": ("name", "description", "starts_at", "ends_at"),
    "scope": (
        "all_products",
        "categories",
        "skus",
        "exclude_skus",
        "stores",
        "channels",
        "min_amount",
        "max_amount",
        "stacks_with_government_subsidy",
    ),
    "budget": (
        "budget_total",
        "daily_cap",
        "alert_threshold",
        "alert_emails",
        "per_consumer_limit",
    ),
}

# The service's field keys (the API's JSON paths) → this form's fields.
SERVICE_FIELDS = {
    "budget.total": "budget_total",
    "budget.daily_cap": "daily_cap",
    "budget.alert_threshold_bp": "alert_threshold",
    "budget.alert_emails": "alert_emails",
    "scope": "categories",
}

# The service speaks the API's language (minor units, basis points); a merchant reads these.
SERVICE_MESSAGES: dict[str, Promise] = {
    "A campaign needs a name.": _("A campaign needs a name."),
    "The window must end after it starts.": _("The window must end after it starts."),
    "Add at least one offer.": _("Add at least one offer."),
    "Two offers on one term may not share a minimum.": _(
        "Two tiers on one term may not start at the same amount."
    ),
    "The minimum cannot be negative.": _("The minimum cannot be negative."),
    "Choose all products, or at least one category or SKU.": _(
        "Choose all products, or at least one category or SKU."
    ),
    "Choose at least one channel.": _("Choose at least one channel."),
    "The maximum is below the minimum.": _("The maximum is below the minimum."),
    "The daily cap cannot exceed the total budget.": _(
        "The daily cap cannot exceed the total budget."
    ),
    "The end can only move later.": _("After approval the end can only move later."),
    "After approval the budget can only rise.": _("After approval the budget can only rise."),
    "The window has already ended.": _("The window has already ended: move its end later."),
    "A time within the calendar (years 1 to 9999, in UTC).": _(
        "Choose a date between the years 1 and 9999."
    ),
    "Cannot change after approval.": _(
        "Cannot change after approval: duplicate the campaign to change it."
    ),
}
SERVICE_MESSAGE_PREFIXES: dict[str, Promise] = {
    "The platform does not offer": _("The platform does not offer this term to you."),
    "The minimum is above the platform's maximum": _(
        "This tier starts above the most the platform finances on this term."
    ),
    "Must lie within the platform's limits": _("Must lie within the platform's order limits."),
    "Unknown store codes": _("Choose among your stores."),
    "At most": _("Too many entries."),
    "Entries are non-empty codes": _("Codes are at most 64 characters."),
}


def exponent_of(currency: str) -> int:
    info = CURRENCIES.get(currency)
    return info.exponent if info else 2


def amount_field(exponent: int, **kwargs: Any) -> forms.DecimalField:
    """An amount typed in major units with the currency's decimals."""
    step = Decimal(1).scaleb(-exponent)
    kwargs.setdefault("min_value", step)
    return forms.DecimalField(
        max_digits=18,
        decimal_places=exponent,
        widget=forms.NumberInput(attrs={"step": str(step), "inputmode": "decimal"}),
        **kwargs,
    )


def percent_field(**kwargs: Any) -> forms.DecimalField:
    """A share in percent with at most two decimals: exactly a whole number of basis points."""
    return forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        max_digits=5,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        **kwargs,
    )


def codes(text: str) -> list[str]:
    """``"phones, tv  laptops"`` → ``["phones", "tv", "laptops"]``, de-duplicated, order kept."""
    return list(dict.fromkeys(code for code in re.split(r"[,\s]+", text or "") if code))


def service_message(message: str) -> str:
    """A service's refusal in the merchant's words and language (the service's own text when this
    form has none for it)."""
    known = SERVICE_MESSAGES.get(message)
    if known is not None:
        return str(known)
    for prefix, text in SERVICE_MESSAGE_PREFIXES.items():
        if message.startswith(prefix):
            return str(text)
    return message


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(
        label=_("Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For your team; consumers do not see it."),
    )
    starts_at = forms.DateTimeField(
        label=_("Starts"),
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )
    ends_at = forms.DateTimeField(
        label=_("Ends"),
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
        help_text=_("The campaign stops at this moment (it is not included)."),
    )
    all_products = forms.ChoiceField(
        label=_("Products"),
        choices=[("all", _("All products")), ("chosen", _("Chosen categories and SKUs"))],
        widget=forms.RadioSelect,
        initial="all",
    )
    categories = forms.CharField(
        label=_("Categories"),
        required=False,
        help_text=_("Your category codes, separated by commas, e.g. phones, laptops."),
    )
    skus = forms.CharField(label=_("SKUs"), required=False, help_text=_("Separated by commas."))
    exclude_skus = forms.CharField(
        label=_("Excluded SKUs"),
        required=False,
        help_text=_("Never subsidised, whatever the rest of the scope says."),
    )
    stores = forms.MultipleChoiceField(
        label=_("Stores"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen: every store, and online."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(Channel.ONLINE.value, _("Online")), (Channel.IN_STORE.value, _("In store"))],
        initial=[Channel.ONLINE.value, Channel.IN_STORE.value],
    )
    stacks_with_government_subsidy = forms.BooleanField(
        label=_("Also applies when a government subsidy pays part of the order"),
        required=False,
        initial=True,
    )
    alert_threshold = percent_field(
        label=_("Alert threshold (percent of the budget used)"),
        initial=Decimal(80),
    )
    alert_emails = forms.CharField(
        label=_("Alert e-mails"),
        required=False,
        help_text=_("Who is told when the alert threshold is reached or a checkout is refused."),
    )
    per_consumer_limit = forms.IntegerField(
        label=_("Subsidised plans per consumer"),
        required=False,
        min_value=1,
        max_value=1_000_000,
        help_text=_("Empty: no limit."),
    )

    def __init__(
        self,
        *args: Any,
        merchant: Merchant,
        terms: list[int],
        stores: list[tuple[str, str]],
        locked: bool = False,
        stored: CampaignInput | None = None,
        **kwargs: Any,
    ) -> None:
        """``stored`` is the campaign being edited, as the service's input: its offers set how many
        rows the form has, and what ``locked`` makes read-only is taken from it as stored."""
        super().__init__(*args, **kwargs)
        self.merchant = merchant
        self.exponent = exponent_of(merchant.currency)
        self.locked = locked
        self.stored = stored
        stored_offers = len(stored.offers) if stored is not None else 0
        # Rows posted beyond the ones rendered (a form saved with tiers added) are read too.
        posted = {key: int(m.group(1)) for key in self.data if (m := OFFER_FIELD.fullmatch(key))}
        wanted = max(
            OFFER_ROWS, stored_offers + OFFER_SPARE_ROWS, max(posted.values(), default=-1) + 1
        )
        self.offer_row_count = max(stored_offers, min(MAX_OFFERS, wanted))
        # Something typed in a row beyond the most a campaign may have: refused, never dropped.
        self._rows_beyond = any(
            row >= self.offer_row_count and self.data.get(key) for key, row in posted.items()
        )
        amount = self.exponent
        self.fields["min_amount"] = amount_field(
            amount,
            label=_("Smallest order"),
            required=False,
            help_text=_("Financed amount; empty: the platform's limits."),
        )
        self.fields["max_amount"] = amount_field(amount, label=_("Largest order"), required=False)
        self.fields["budget_total"] = amount_field(
            amount,
            label=_("Total budget"),
            help_text=_("The most the campaign's subsidies may cost you, refunds given back."),
        )
        self.fields["daily_cap"] = amount_field(
            amount,
            label=_("Daily cap"),
            required=False,
            help_text=_("Per day in your time zone; empty: no cap."),
        )
        # Keep the steps' order for the fields added here.
        order = [*STEP_FIELDS["basics"], *STEP_FIELDS["scope"], *STEP_FIELDS["budget"]]
        term_choices = [("", "—")] + [(str(term), str(term)) for term in terms]
        for row in range(self.offer_row_count):
            self.fields[f"offer_{row}_term"] = forms.TypedChoiceField(
                label=_("Months"), choices=term_choices, coerce=int, required=False
            )
            self.fields[f"offer_{row}_share"] = percent_field(
                label=_("You pay (percent of the fee)"), required=False
            )
            self.fields[f"offer_{row}_min"] = amount_field(
                amount, label=_("From (financed amount)"), required=False, min_value=Decimal(0)
            )
            order += [f"offer_{row}_term", f"offer_{row}_share", f"offer_{row}_min"]
        self.order_fields(order)
        self.fields["stores"].choices = stores
        if locked:
            for name, field in self.fields.items():
                if name not in CHANGEABLE_AFTER_APPROVAL:
                    field.disabled = True
        # Each offer row's position in the input's ``offers`` (blank rows are left out).
        self._offer_rows: list[int] = []

    # -- Layout -------------------------------------------------------------------------------

    def offer_rows(
        self,
    ) -> Iterator[tuple[int, forms.BoundField, forms.BoundField, forms.BoundField]]:
        for row in range(self.offer_row_count):
            yield (
                row,
                self[f"offer_{row}_term"],
                self[f"offer_{row}_share"],
                self[f"offer_{row}_min"],
            )

    @property
    def by_step(self) -> dict[str, list[forms.BoundField]]:
        """The fields of each step but the offers (laid out as a table of rows)."""
        return {step: [self[name] for name in names] for step, names in STEP_FIELDS.items()}

    def offer_errors(self) -> list[str]:
        return list(self.errors.get("offers", []))

    # -- Cleaning -----------------------------------------------------------------------------

    def _minor(self, value: Decimal | None) -> int | None:
        return None if value is None else int(value.scaleb(self.exponent))

    def _window_time(self, name: str) -> Any:
        # The API's bound (``window_time_exists``): a time that does not exist in UTC is refused here,
        # not stored for every page that reads the campaign to fail on.
        value = self.cleaned_data.get(name)
        if value is not None and not window_time_exists(value):
            raise forms.ValidationError(
                SERVICE_MESSAGES["A time within the calendar (years 1 to 9999, in UTC)."]
            )
        return value

    def clean_starts_at(self) -> Any:
        return self._window_time("starts_at")

    def clean_ends_at(self) -> Any:
        return self._window_time("ends_at")

    def clean_alert_emails(self) -> list[str]:
        emails = codes(self.cleaned_data.get("alert_emails", ""))
        field = forms.EmailField()
        for email in emails:
            try:
                field.clean(email)
            except forms.ValidationError as error:
                raise forms.ValidationError(
                    _("%(email)s is not an e-mail address.") % {"email": email}
                ) from error
        return emails

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        offers: list[OfferInput] = []
        self._offer_rows = []
        if self._rows_beyond:
            self._add_extra_error(
                "offers", _("A campaign has at most %(count)d offers.") % {"count": MAX_OFFERS}
            )
        for row in range(self.offer_row_count):
            term = cleaned.get(f"offer_{row}_term")
            share = cleaned.get(f"offer_{row}_share")
            minimum = cleaned.get(f"offer_{row}_min")
            if term in (None, "") and share is None and minimum is None:
                continue
            if f"offer_{row}_share" in self.errors or f"offer_{row}_min" in self.errors:
                continue
            if term in (None, ""):
                self.add_error(f"offer_{row}_term", _("Choose how many months."))
                continue
            if share is None:
                self.add_error(f"offer_{row}_share", _("Say how much of the fee you pay."))
                continue
            offers.append(
                OfferInput(
                    term=int(term),
                    merchant_share_bp=int(share * 100),
                    min_amount=self._minor(minimum) or 0,
                )
            )
            self._offer_rows.append(row)
        cleaned["offers"] = offers
        return cleaned

    def _kept_time(self, name: str) -> datetime:
        """A time as typed, or the stored one when the form gave it back as it showed it (to the
        minute): a stored time finer than a minute is not changed by saving the form."""
        typed: datetime = self.cleaned_data[name]
        if self.stored is not None:
            stored: datetime = getattr(self.stored, name)
            if typed == timezone.localtime(stored).replace(second=0, microsecond=0):
                return stored
        return typed

    def campaign_input(self) -> CampaignInput:
        """The valid form as the service's input."""
        data = self.cleaned_data
        if self.locked and self.stored is not None:
            # What approval froze goes to the service as stored, not as the read-only inputs gave
            # it back (a disabled time drops its seconds, a row the form lacks its offer): the
            # service compares it to the stored campaign and must find it unchanged.
            return dataclasses.replace(
                self.stored,
                budget_total=self._minor(data["budget_total"]),
                ends_at=self._kept_time("ends_at"),
            )
        return CampaignInput(
            name=data["name"],
            description=data.get("description", ""),
            starts_at=self._kept_time("starts_at"),
            ends_at=self._kept_time("ends_at"),
            offers=data["offers"],
            all_products=data["all_products"] == "all",
            categories=codes(data.get("categories", "")),
            skus=codes(data.get("skus", "")),
            exclude_skus=codes(data.get("exclude_skus", "")),
            stores=list(data.get("stores") or []),
            channels=list(data.get("channels") or []),
            min_amount=self._minor(data.get("min_amount")),
            max_amount=self._minor(data.get("max_amount")),
            budget_total=self._minor(data["budget_total"]),  # type: ignore[arg-type]
            daily_cap=self._minor(data.get("daily_cap")),
            alert_threshold_bp=int(data["alert_threshold"] * 100),
            alert_emails=data.get("alert_emails") or [],
            per_consumer_limit=data.get("per_consumer_limit"),
            stacks_with_government_subsidy=bool(data.get("stacks_with_government_subsidy")),
        )

    def draft_input(self) -> tuple[CampaignInput | None, bool]:
        """What can be priced of a form still being filled in: the offers typed so far with the
        rest of the settings as far as they are valid (a window from now, no budget limit while
        the budget is empty). ``None`` when no offer is complete yet; the flag says whether the
        budget was given."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        data = self.cleaned_data
        offers = data.get("offers") or []
        if not offers:
            return None, False
        now = timezone.now()
        starts = data.get("starts_at") or now
        ends = data.get("ends_at")
        if ends is None or ends <= starts:
            try:
                ends = starts + timedelta(days=1)
            except OverflowError:
                # A start on the calendar's last day has no next day: an empty window, which the
                # preview prices as of now (``preview_moment``).
                ends = starts
        budget = self._minor(data.get("budget_total"))
        threshold = data.get("alert_threshold") or Decimal(80)
        return (
            CampaignInput(
                name=data.get("name") or "",
                starts_at=starts,
                ends_at=ends,
                offers=offers,
                all_products=data.get("all_products", "all") != "chosen",
                categories=codes(data.get("categories", "")),
                skus=codes(data.get("skus", "")),
                exclude_skus=codes(data.get("exclude_skus", "")),
                stores=list(data.get("stores") or []),
                channels=list(data.get("channels") or Channel.values),
                min_amount=self._minor(data.get("min_amount")),
                max_amount=self._minor(data.get("max_amount")),
                budget_total=budget if budget else 10**15,
                daily_cap=self._minor(data.get("daily_cap")),
                alert_threshold_bp=int(threshold * 100),
                stacks_with_government_subsidy=bool(data.get("stacks_with_government_subsidy")),
            ),
            budget is not None,
        )

    def add_domain_error(self, error: DomainError) -> None:
        """Show a service's refusal on the fields it concerns, in the merchant's words."""
        if not error.errors:
            self.add_error(None, service_message(error.message))
            return
        for key, messages in error.errors.items():
            field = SERVICE_FIELDS.get(key, key)
            match = re.fullmatch(r"offers\[(\d+)\]", key)
            if match:
                index = int(match.group(1))
                if index < len(self._offer_rows):
                    field = f"offer_{self._offer_rows[index]}_term"
                else:
                    field = "offers"
            for message in messages:
                text = service_message(message)
                if field == "offers" or field not in self.fields:
                    self._add_extra_error(field, text)
                else:
                    self.add_error(field, text)
        if error.code != "validation_error":
            self.add_error(None, service_message(error.message))

    def _add_extra_error(self, field: str, message: str) -> None:
        # Errors on what has no single input (the offers as a whole) are kept under their own key.
        key = "offers" if field == "offers" else NON_FIELD_ERRORS
        self._errors.setdefault(key, self.error_class())  # type: ignore[union-attr]
        self._errors[key].append(message)  # type: ignore[index]

    def errors_json(self) -> dict[str, list[str]]:
        return {
            field: [str(message) for message in messages] for field, messages in self.errors.items()
        }


def campaign_form_initial(campaign: Campaign, *, exponent: int) -> dict[str, Any]:
    """A stored campaign as the form shows it."""

    def major(value: int | None) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-exponent)

    initial: dict[str, Any] = {
        "name": campaign.name,
        "description": campaign.description,
        "starts_at": timezone.localtime(campaign.starts_at),
        "ends_at": timezone.localtime(campaign.ends_at),
        "all_products": "all" if campaign.all_products else "chosen",
        "categories": ", ".join(campaign.categories),
        "skus": ", ".join(campaign.skus),
        "exclude_skus": ", ".join(campaign.exclude_skus),
        "stores": list(campaign.stores),
        "channels": list(campaign.channels),
        "min_amount": major(campaign.min_amount),
        "max_amount": major(campaign.max_amount),
        "stacks_with_government_subsidy": campaign.stacks_with_government_subsidy,
        "budget_total": major(campaign.pending_budget_total or campaign.budget_total),
        "daily_cap": major(campaign.daily_cap),
        "alert_threshold": (Decimal(campaign.alert_threshold_bp) / 100).normalize(),
        "alert_emails": ", ".join(campaign.alert_emails),
        "per_consumer_limit": campaign.per_consumer_limit,
    }
    for row, offer in enumerate(
        sorted(campaign.offers.all(), key=lambda o: (o.term, o.min_amount))
    ):
        initial[f"offer_{row}_term"] = offer.term
        initial[f"offer_{row}_share"] = (Decimal(offer.merchant_share_bp) / 100).normalize()
        initial[f"offer_{row}_min"] = major(offer.min_amount)
    return initial


class PreviewBasketForm(forms.Form):
    """The live preview's basket. Prefixed ``preview`` so it travels with the campaign form."""

    prefix = "preview"
    government_subsidy = forms.DecimalField(required=False)  # replaced in __init__
    store = forms.ChoiceField(label=_("Store"), required=False)
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[
            ("", _("Not said")),
            (Channel.ONLINE.value, _("Online")),
            (Channel.IN_STORE.value, _("In store")),
        ],
    )

    def __init__(
        self, *args: Any, merchant: Merchant, stores: list[tuple[str, str]], **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.exponent = exponent_of(merchant.currency)
        amount = self.exponent
        self.fields = {
            "amount": amount_field(amount, label=_("Order price"), initial=Decimal(5999)),
            "government_subsidy": amount_field(
                amount, label=_("Government subsidy"), required=False, min_value=Decimal(0)
            ),
            **{name: field for name, field in self.fields.items() if name != "government_subsidy"},
        }
        self.fields["store"].choices = [("", _("None (online)")), *stores]
        for row in range(LINE_ROWS):
            self.fields[f"line_{row}_sku"] = forms.CharField(
                label=_("SKU"), required=False, max_length=64
            )
            self.fields[f"line_{row}_category"] = forms.CharField(
                label=_("Category"), required=False, max_length=64
            )
            self.fields[f"line_{row}_amount"] = amount_field(
                amount, label=_("Price"), required=False, min_value=Decimal(0)
            )

    def line_rows(
        self,
    ) -> Iterator[tuple[int, forms.BoundField, forms.BoundField, forms.BoundField]]:
        for row in range(LINE_ROWS):
            yield (
                row,
                self[f"line_{row}_sku"],
                self[f"line_{row}_category"],
                self[f"line_{row}_amount"],
            )

    def _minor(self, value: Decimal | None) -> int:
        return 0 if value is None else int(value.scaleb(self.exponent))

    def basket(self) -> Basket:
        """The valid form as matching's basket; raises ``DomainError`` as the API's would."""
        data = self.cleaned_data
        lines = []
        for row in range(LINE_ROWS):
            sku = (data.get(f"line_{row}_sku") or "").strip()
            category = (data.get(f"line_{row}_category") or "").strip()
            amount = data.get(f"line_{row}_amount")
            if not sku and not category and amount is None:
                continue
            lines.append(BasketLine(sku=sku, category=category, amount=self._minor(amount)))
        return Basket(
            amount=self._minor(data["amount"]),
            government_subsidy=self._minor(data.get("government_subsidy")),
            lines=tuple(lines) if lines else None,
            store=data.get("store") or None,
            channel=data.get("channel") or None,
        )
