"""The dashboard, the merchant switcher and the sign-in pages. Thin: reads come from selectors."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.charts import daily_bar_chart
from backoffice.forms import ThrottledAuthenticationForm, ThrottledPasswordResetForm
from backoffice.selectors import (
    campaign_counts,
    dashboard_live_campaigns,
    dashboard_notices,
    dashboard_sales,
    plans_trend,
)
from backoffice.tenancy import member_view, merchant_choose
from campaigns.selectors import PACE_DAYS, campaign_outlooks


@member_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    now = timezone.now()
    trend = plans_trend(merchant=merchant, now=now)
    live = dashboard_live_campaigns(merchant=merchant, now=now)
    outlooks = campaign_outlooks(
        merchant=merchant, campaigns=[item.campaign for item in live], at=now
    )
    return render(
        request,
        "backoffice/dashboard.html",
        {
            "merchant": merchant,
            "sales": dashboard_sales(merchant=merchant, now=now),
            "live_campaigns": [(item, outlooks[item.campaign.pk]) for item in live],
            "notices": dashboard_notices(merchant=merchant),
            "campaign_counts": campaign_counts(merchant=merchant),
            "trend": trend,
            "financed_chart": daily_bar_chart(
                [(day.day, day.financed) for day in trend.days],
                currency=merchant.currency,
                highlight=trend.last_day,
            ),
            "subsidy_chart": daily_bar_chart(
                [(day.day, day.subsidy) for day in trend.days],
                currency=merchant.currency,
                highlight=trend.last_day,
            ),
            "pace_days": PACE_DAYS,
        },
    )


@require_POST
@login_required
def merchant_switch(request: HttpRequest) -> HttpResponse:
    """Work for another of the user's merchants; a merchant they are not a member of is not found.
    Returns to the section the switch was made from (its list page: ids of the previous merchant
    would not be found under the new one)."""
    membership = merchant_choose(request, merchant_id=request.POST.get("merchant", ""))
    if membership is None:
        raise Http404
    messages.success(
        request, _("You are now working for %(merchant)s.") % {"merchant": membership.merchant.name}
    )
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    return redirect(target)


class SignInView(auth_views.LoginView):
    """Django's sign-in, throttled; a locked-out attempt answers 429 with ``Retry-After``."""

    form_class = ThrottledAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
            response["Retry-After"] = str(getattr(form, "retry_after", 60))
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}
