"""The back office in a real browser (issue 8): headless Chromium signs in as the demo's owner, looks a
plan up and refunds part of it, downloads a statement, switches the language, and looks at the
dashboard and the plans on a phone. Every page visited is saved as ``screenshots/NN-name.png``."""

from __future__ import annotations

import ast
import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from backoffice.templatetags.backoffice import money_text
from tests.browser.conftest import PHONE, shot

pytestmark = pytest.mark.django_db(transaction=True)

CATALOG = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def sign_in(
    page: Page, base_url: str, username: str, password: str, *, screenshot: str = ""
) -> None:
    """Open the dashboard signed out, get sent to the sign-in page, sign in, land on the dashboard."""
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/accounts/login/?next=/")
    expect(page.get_by_role("heading", name="Sign in to your back office")).to_be_visible()
    if screenshot:
        shot(page, screenshot)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/")


def sidebar(page: Page) -> Locator:
    return page.locator("nav.sidebar")


def figure(page: Page, section_title_id: str, label: str) -> Locator:
    """The value (``dd``) of the dashboard figure ``label`` in the section titled by the id."""
    return (
        page.locator(f"section[aria-labelledby='{section_title_id}'] .figure")
        .filter(has=page.locator("dt", has_text=re.compile(f"^{re.escape(label)}$")))
        .locator("dd")
    )


def test_sign_in_lands_on_the_dashboard_with_its_figures(page: Page, live_server, demo) -> None:
    from backoffice.selectors import dashboard_sales

    merchant, logins = demo
    sign_in(page, live_server.url, *logins.owner, screenshot="01-sign-in")

    expect(page.get_by_role("heading", level=1)).to_have_text("Lumen Electronics")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sales = dashboard_sales(merchant=merchant)
    assert sales.month.plans > 0, "the demo should have plans this month"
    expect(figure(page, "month-title", "Plans")).to_have_text(str(sales.month.plans))
    expect(figure(page, "month-title", "Financed sales")).to_contain_text(
        money_text(sales.month.financed, "CNY")
    )
    expect(figure(page, "today-title", "Plans")).to_have_text(str(sales.today.plans))
    # The live campaigns' table and the menu of an owner.
    campaign_link = page.get_by_role("link", name="Year-end phones 12 periods free", exact=True)
    expect(campaign_link).to_be_visible()
    expect(sidebar(page).get_by_role("link")).to_have_text(
        ["Dashboard", "Campaigns", "Plans", "Settlements", "Stores", "Members", "API keys"]
    )
    shot(page, "02-dashboard")


def test_look_up_a_plan_and_refund_part_of_it(page: Page, live_server, demo) -> None:
    from installments.plan_models import Plan

    merchant, logins = demo
    plan = (
        Plan.objects.filter(
            merchant=merchant,
            test=False,
            status="active",
            refunded_amount=0,
            merchant_subsidy__gt=0,
            term=12,
        )
        .order_by("-created_at")
        .first()
    )
    assert plan is not None, "the demo should have an active, subsidised, unrefunded 12-term plan"
    financed = plan.financed_amount
    refund_amount = financed // 3 // 100 * 100  # a third, in whole yuan
    remaining = financed - refund_amount
    refund_ref = f"BROWSER-{plan.merchant_order_ref}"
    sign_in(page, live_server.url, *logins.owner)

    # The plans list: search by the order reference.
    sidebar(page).get_by_role("link", name="Plans", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/plans/")
    page.get_by_role("searchbox", name="Search").fill(plan.merchant_order_ref)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/plans/\?.*q=" + re.escape(plan.merchant_order_ref)))
    expect(page.locator(".result-bar")).to_have_text("1 plan")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    shot(page, "03-plans-search")

    # The plan, its schedule before the refund.
    rows.get_by_role("link", name=plan.merchant_order_ref).click()
    expect(page).to_have_url(f"{live_server.url}/plans/{plan.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(plan.merchant_order_ref)
    schedule = page.locator("section[aria-labelledby='schedule-title']")
    expect(schedule.locator("tbody tr")).to_have_count(12)
    expect(schedule.locator("tfoot td.num").first).to_have_text(money_text(financed, "CNY"))
    amount_before = schedule.locator("tfoot td.num").last.inner_text()
    refunds = page.locator("section[aria-labelledby='refunds-title']")
    expect(refunds).to_contain_text("No refunds")
    shot(page, "04-plan-detail")

    # Refund a third through the form.
    page.get_by_label("Amount to refund", exact=True).fill(
        str(Decimal(refund_amount).scaleb(-2).quantize(Decimal("0.01")))
    )
    page.get_by_label("Refund reference", exact=True).fill(refund_ref)
    page.get_by_label(re.compile(r"^Reason")).fill("Returned one item (browser test)")
    page.get_by_role("button", name="Refund", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/plans/{plan.pk}/")
    plan.refresh_from_db()
    refund = plan.refunds.get(refund_ref=refund_ref)
    assert (plan.financed_amount, refund.amount) == (remaining, refund_amount)
    expect(page.locator(".messages .alert-success")).to_have_text(
        f"Refunded {money_text(refund_amount, 'CNY')} ({refund_ref}); "
        f"{money_text(refund.subsidy_reversed, 'CNY')} of subsidy went back to you."
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Active")
    # The schedule is re-priced on what is left: 12 installments whose principal adds up to it.
    expect(schedule.locator("tbody tr")).to_have_count(12)
    expect(schedule.locator("tfoot td.num").first).to_have_text(money_text(remaining, "CNY"))
    assert schedule.locator("tfoot td.num").last.inner_text() != amount_before
    installments = list(plan.installments.order_by("period"))
    assert sum(i.principal for i in installments) == remaining
    first_row = schedule.locator("tbody tr").first.locator("td.num")
    expect(first_row.first).to_have_text(money_text(installments[0].principal, "CNY"))
    expect(
        page.locator(".figure").filter(has=page.locator("dt", has_text=re.compile("^Financed$")))
    ).to_contain_text(
        f"{money_text(financed, 'CNY')} less {money_text(refund_amount, 'CNY')} refunded"
    )
    # The refund is listed.
    refund_row = refunds.locator("tbody tr")
    expect(refund_row).to_have_count(1)
    expect(refund_row).to_contain_text(refund_ref)
    expect(refund_row.locator("td.num").first).to_have_text(money_text(refund_amount, "CNY"))
    expect(refund_row).to_contain_text("Returned one item (browser test)")
    shot(page, "05-plan-refunded")


def test_download_a_statement_as_csv(page: Page, live_server, demo) -> None:
    from installments.settlement import STATEMENT_CSV_COLUMNS
    from installments.settlement_models import Statement

    merchant, logins = demo
    sign_in(page, live_server.url, *logins.owner)

    sidebar(page).get_by_role("link", name="Settlements", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/settlements/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settlements")
    shot(page, "06-settlements")

    # The newest statement with lines (nearly always yesterday's), from the list to its page.
    statement = (
        Statement.objects.filter(merchant=merchant, lines__isnull=False)
        .distinct()
        .order_by("-business_date")
        .first()
    )
    assert statement is not None, "the demo should have statements with lines"
    lines = statement.lines.count()
    page.locator(f"table tbody a[href='/settlements/{statement.pk}/']").click()
    expect(page).to_have_url(f"{live_server.url}/settlements/{statement.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Statement of")
    expect(page.locator("section[aria-labelledby='lines-title'] tbody tr")).to_have_count(lines)
    shot(page, "07-statement")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == (
        f"statement-{statement.business_date}-{statement.merchant_id}.csv"
    )
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == list(STATEMENT_CSV_COLUMNS)
    assert len(rows) == lines + 2  # the header, one row per line, the TOTAL row
    assert rows[-1] == [
        statement.business_date.isoformat(),
        str(merchant.pk),
        "",
        "TOTAL",
        str(statement.plans_charged),
        str(statement.charges),
        str(statement.reversals),
        str(statement.net),
        "CNY",
        "",
    ]
    assert sum(int(row[7]) for row in rows[1:-1]) == statement.net


def _catalog_translations() -> dict[str, str]:
    """msgid → msgstr of the zh-Hans catalog's translated, non-fuzzy, singular entries without a
    context (the catalog is being written: it may be missing or still empty)."""
    if not CATALOG.exists():
        return {}
    found: dict[str, str] = {}
    entry: dict[str, str] = {}
    key, skip = "", False
    for raw in [*CATALOG.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:  # an entry ends
            if entry.get("msgid") and entry.get("msgstr") and not skip:
                found[entry["msgid"]] = entry["msgstr"]
            entry, key, skip = {}, "", False
        elif line.startswith("#"):
            skip = skip or (line.startswith("#,") and "fuzzy" in line)
        elif line.startswith('"'):
            if key:
                entry[key] += ast.literal_eval(line)
        else:
            keyword, _, value = line.partition(" ")
            key = keyword if keyword in ("msgid", "msgstr") else ""
            if key:
                entry[key] = ast.literal_eval(value)
            else:  # msgctxt, msgid_plural, msgstr[n]: not what a plain gettext() finds
                skip = True
    return found


def test_switch_language_to_simplified_chinese_and_back(page: Page, live_server, demo) -> None:
    from django.utils import translation

    from backoffice.context_processors import MENU

    _, logins = demo
    sign_in(page, live_server.url, *logins.owner)
    with translation.override("en"):
        menu_labels = [str(item.label) for item in MENU]
    catalog = _catalog_translations()
    translated = [(label, catalog[label]) for label in menu_labels if label in catalog]

    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("button", name="简体中文")).to_have_attribute("aria-current", "true")
    if translated:
        english, chinese = translated[0]
        expect(
            sidebar(page).get_by_role("link", name=chinese, exact=True),
            f"{CATALOG.name} translates the menu's {english!r} as {chinese!r}, but the menu does not "
            "show it: is the catalog compiled (`manage.py compilemessages`)?",
        ).to_be_visible()
    shot(page, "08-zh-dashboard")
    sidebar(page).locator("a[href='/plans/']").click()
    expect(page).to_have_url(f"{live_server.url}/plans/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shot(page, "09-zh-plans")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{live_server.url}/plans/")
    expect(sidebar(page).get_by_role("link", name="Plans", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plans")
    shot(page, "10-en-plans")


def _assert_fits_the_width(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (
        f"{page.url} is {width}px wide on a {PHONE['width']}px phone: it scrolls sideways"
    )


def test_phone_width_dashboard_and_plans(phone_page: Page, live_server, demo) -> None:
    page = phone_page
    _, logins = demo
    sign_in(page, live_server.url, *logins.owner)
    expect(page.get_by_role("heading", level=1)).to_have_text("Lumen Electronics")
    _assert_fits_the_width(page)
    shot(page, "11-phone-dashboard")

    page.goto(f"{live_server.url}/plans/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Plans")
    expect(page.locator("table tbody tr").first).to_be_visible()
    _assert_fits_the_width(page)
    shot(page, "12-phone-plans")

    # The campaign studio (issue 9): the steps, then the live preview under them.
    page.goto(f"{live_server.url}/campaigns/new/")
    page.locator("[data-step-target='offers']").click()
    page.locator("[name=offer_0_term]").select_option("12")
    page.locator("[name=offer_0_share]").fill("100")
    expect(page.locator("[data-preview-output] tr[data-term='12']")).to_contain_text(
        "Interest-free"
    )
    _assert_fits_the_width(page)
    shot(page, "13-phone-studio")
