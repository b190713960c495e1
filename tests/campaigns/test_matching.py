"""Matching on PostgreSQL (DESIGN.md §3.2, §3.3, §4, §5): which campaign offer each term gets for a
basket, and what the consumer and the merchant then pay.

Every expected number below is worked out by hand from §3.2 with the default fee table
(3: .023/.018, 6: .045/.045, 12: .075/.075, limits 100.00–300,000.00), statement day 1, due day 10
and half-up rounding; none is read back from the calculator."""

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from campaigns.alerts import alert_budget_refused
from campaigns.budgets import budget_charge, budget_reverse
from campaigns.matching import Basket, BasketLine, offers_match
from campaigns.services import Actor, campaign_pause, campaign_resume
from merchants.errors import DomainError
from merchants.services import merchant_freeze, merchant_set_paid_terms_disabled
from tests.factories import CampaignFactory, MerchantFactory, OfferFactory, UserFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI)  # purchase date 2026-11-11
AT_1130 = datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)  # DESIGN's mixed-basket purchase date
PHONE = 599_900  # ¥5,999.00: 12 terms, F = R(599900 × .075) = R(44992.5) = 44993


def live_campaign(merchant, *, offers=((12, 10_000, 0),), **fields):
    """An approved campaign of ``merchant`` whose window holds AT, with exactly ``offers``."""
    fields.setdefault("starts_at", AT - timedelta(days=1))
    fields.setdefault("ends_at", AT + timedelta(days=30))
    fields.setdefault("status", "approved")
    campaign = CampaignFactory(merchant=merchant, offers=None, **fields)
    for term, share, minimum in offers:
        OfferFactory(campaign=campaign, term=term, merchant_share_bp=share, min_amount=minimum)
    return campaign


def match(merchant, amount, *, at=AT, **basket):
    return offers_match(merchant=merchant, basket=Basket(amount=amount, **basket), at=at)


def option(matching, term):
    found = matching.for_term(term)
    assert found is not None, f"term {term} is not offered: {[t.term for t in matching.terms]}"
    return found


def chosen(matching, term=12):
    """The campaign id the term's option uses, or None."""
    offer = option(matching, term).offer
    return offer.campaign_id if offer else None


def assert_price(price, *, P, F, W, C, M, first, rest, apr, first_due):
    """F, W, C, M, the schedule (period 1 and periods 2..n as principal+fee), its sums, APR."""
    assert price.principal == P
    assert (price.consumer_fee_full, price.waived_fee, price.consumer_fee) == (F, W, C)
    assert price.merchant_subsidy == M
    schedule = price.schedule
    assert len(schedule) == price.term
    assert (schedule[0].principal, schedule[0].fee) == first
    assert {(i.principal, i.fee) for i in schedule[1:]} == {rest}
    assert sum(i.principal for i in schedule) == P
    assert sum(i.fee for i in schedule) == C
    assert price.total_payable == P + C
    assert price.apr == apr
    assert schedule[0].due_date == first_due
    assert price.interest_free is (C == 0)


# --------------------------------------------------------------------------------------------------
# The prices of the chosen options


def test_fully_free_phone_and_the_paid_terms_beside_it(merchant):
    campaign = live_campaign(merchant)
    matching = match(merchant, PHONE)

    assert [t.term for t in matching.terms] == [3, 6, 12]
    assert matching.purchase_date == date(2026, 11, 11)
    free = option(matching, 12)
    assert free.offer.campaign_id == campaign.id
    assert (free.offer.share_bp, free.offer.eligible, free.offer.in_scope_total) == (
        10_000,
        PHONE,
        PHONE,
    )
    assert_price(
        free.price,
        P=PHONE,
        F=44993,
        W=44993,
        C=0,
        M=44993,
        first=(49999, 0),
        rest=(49991, 0),
        apr="0.00",
        first_due=date(2026, 12, 10),
    )
    # No campaign covers 3 or 6 terms: the full consumer fee, nothing charged to the merchant.
    three = option(matching, 3)
    assert three.offer is None
    assert_price(
        three.price,
        P=PHONE,
        F=13798,  # R(599900 × .023) = R(13797.7)
        W=0,
        C=13798,
        M=0,
        first=(199968, 4600),
        rest=(199966, 4599),
        apr=three.price.apr,
        first_due=date(2026, 12, 10),
    )
    six = option(matching, 6)
    assert six.offer is None
    assert (six.price.consumer_fee, six.price.merchant_subsidy) == (26996, 0)  # R(26995.5)
    assert matching.budget_short == () and matching.refusals_to_alert == ()


def test_no_campaign_prices_the_term_at_the_full_fee(merchant):
    paid = option(match(merchant, PHONE), 12)
    assert paid.offer is None
    assert_price(
        paid.price,
        P=PHONE,
        F=44993,
        W=0,
        C=44993,
        M=0,
        first=(49999, 3754),
        rest=(49991, 3749),
        apr="13.57",
        first_due=date(2026, 12, 10),
    )


def test_a_three_term_offer_charges_the_merchant_rate(merchant):
    live_campaign(merchant, offers=[(3, 10_000, 0)])
    three = option(match(merchant, PHONE), 3)
    assert three.offer is not None
    assert_price(
        three.price,
        P=PHONE,
        F=13798,
        W=13798,
        C=0,
        M=10798,  # R(599900 × .018) = R(10798.2)
        first=(199968, 0),
        rest=(199966, 0),
        apr="0.00",
        first_due=date(2026, 12, 10),
    )


# --------------------------------------------------------------------------------------------------
# The window and the campaign's status


def test_window_starts_inclusive_and_ends_exclusive(merchant):
    starts_at = AT
    ends_at = AT + timedelta(days=3)
    campaign = live_campaign(merchant, starts_at=starts_at, ends_at=ends_at)
    tick = timedelta(microseconds=1)

    assert chosen(match(merchant, PHONE, at=starts_at - tick)) is None
    assert chosen(match(merchant, PHONE, at=starts_at)) == campaign.id
    assert chosen(match(merchant, PHONE, at=ends_at - tick)) == campaign.id
    assert chosen(match(merchant, PHONE, at=ends_at)) is None


@pytest.mark.parametrize(
    "status", ["draft", "submitted", "rejected", "paused", "ended", "cancelled"]
)
def test_only_an_approved_campaign_is_matched(merchant, status):
    live_campaign(merchant, status=status)
    matching = match(merchant, PHONE)
    assert chosen(matching) is None
    assert option(matching, 12).price.consumer_fee == 44993


def test_pausing_takes_the_campaign_out_at_once_and_resuming_brings_it_back(merchant):
    campaign = live_campaign(merchant)
    actor = Actor.merchant_user(UserFactory())
    assert chosen(match(merchant, PHONE)) == campaign.id
    campaign_pause(campaign=campaign, actor=actor)
    assert chosen(match(merchant, PHONE)) is None
    campaign_resume(campaign=campaign, actor=actor)
    assert chosen(match(merchant, PHONE)) == campaign.id


def test_a_changed_definition_applies_at_the_next_match(merchant):
    campaign = live_campaign(merchant)
    assert chosen(match(merchant, PHONE, channel="in_store")) == campaign.id
    # An operator narrows it to online and halves the share (outside the merchant's services).
    type(campaign).objects.filter(pk=campaign.pk).update(channels=["online"])
    campaign.offers.update(merchant_share_bp=5_000)
    assert chosen(match(merchant, PHONE, channel="in_store")) is None
    online = option(match(merchant, PHONE, channel="online"), 12)
    assert online.offer.share_bp == 5_000
    assert (online.price.consumer_fee, online.price.merchant_subsidy) == (22496, 22496)


def test_the_purchase_date_is_the_merchants_local_date(merchant):
    live_campaign(merchant)
    # 16:30 UTC on 30 Nov is 00:30 on 1 Dec in Shanghai: the first statement is 1 Jan, due 10 Jan.
    at = datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC"))
    matching = match(merchant, PHONE, at=at)
    assert matching.purchase_date == date(2026, 12, 1)
    schedule = option(matching, 12).price.schedule
    assert schedule[0].due_date == date(2027, 1, 10)
    assert schedule[-1].due_date == date(2027, 12, 10)
    # Half an hour earlier it is still 30 Nov locally: first due 10 Dec.
    earlier = match(merchant, PHONE, at=at - timedelta(minutes=31))
    assert earlier.purchase_date == date(2026, 11, 30)
    assert option(earlier, 12).price.schedule[0].due_date == date(2026, 12, 10)


def test_a_frozen_merchant_gets_no_campaign(merchant):
    live_campaign(merchant)
    merchant_freeze(merchant=merchant, reason="KYC review")
    matching = match(merchant, PHONE)
    assert all(t.offer is None for t in matching.terms)
    assert option(matching, 12).price.consumer_fee == 44993


def test_another_merchants_campaign_is_never_matched(merchant):
    other = MerchantFactory()
    theirs = live_campaign(other)
    matching = match(merchant, PHONE)
    assert all(t.offer is None for t in matching.terms)
    assert matching.budget_short == ()

    ours = live_campaign(merchant, offers=[(12, 5_000, 0)])
    assert chosen(match(merchant, PHONE)) == ours.id  # theirs is better but not ours to offer
    assert chosen(match(other, PHONE)) == theirs.id


def test_another_merchants_spent_campaign_is_not_reported_short(merchant):
    other = MerchantFactory()
    live_campaign(other, budget_total=100)
    assert match(merchant, PHONE).budget_short == ()


# --------------------------------------------------------------------------------------------------
# Tiers and budgets


def tiered(merchant, **fields):
    """ "12 periods half-free from ¥1,000, fully free from ¥3,000" (§4)."""
    return live_campaign(merchant, offers=[(12, 5_000, 100_000), (12, 10_000, 300_000)], **fields)


def test_the_tier_with_the_highest_minimum_not_above_p_applies(merchant):
    campaign = tiered(merchant)

    assert chosen(match(merchant, 99_999)) is None  # below every tier

    half = option(match(merchant, 299_999), 12)
    assert (half.offer.campaign_id, half.offer.share_bp, half.offer.offer_min_amount) == (
        campaign.id,
        5_000,
        100_000,
    )
    assert_price(
        half.price,
        P=299_999,
        F=22500,  # R(22499.925)
        W=11250,
        C=11250,
        M=11250,  # R(299999 × .075 / 2) = R(11249.96)
        first=(25010, 943),
        rest=(24999, 937),
        apr=half.price.apr,
        first_due=date(2026, 12, 10),
    )

    full = option(match(merchant, 300_000), 12)
    assert (full.offer.share_bp, full.offer.offer_min_amount) == (10_000, 300_000)
    assert (full.price.consumer_fee, full.price.merchant_subsidy) == (0, 22500)


def test_the_tier_is_chosen_on_the_financed_amount(merchant):
    tiered(merchant)
    # A = 310,000 reaches the fully-free tier, but P = A − G = 290,000 does not.
    twelve = option(match(merchant, 310_000, government_subsidy=20_000), 12)
    assert (twelve.offer.share_bp, twelve.offer.offer_min_amount) == (5_000, 100_000)
    assert (twelve.price.consumer_fee, twelve.price.merchant_subsidy) == (10875, 10875)


def test_no_fall_back_to_a_lower_tier_when_the_budget_cannot_cover_m(merchant):
    # 20,000 covers the half-free tier's M (11,250) but not the fully-free tier's (22,500).
    campaign = tiered(merchant, budget_total=20_000)

    matching = match(merchant, 300_000)
    twelve = option(matching, 12)
    assert twelve.offer is None
    assert (twelve.price.consumer_fee, twelve.price.merchant_subsidy) == (22500, 0)
    assert matching.budget_short == (campaign.id,)
    assert matching.refusals_to_alert == (campaign.id,)

    # Below the upper tier's minimum the lower tier applies and fits the budget.
    lower = match(merchant, 299_999)
    assert chosen(lower) == campaign.id
    assert lower.budget_short == ()


def test_a_recorded_refusal_is_short_but_no_longer_to_alert(merchant):
    campaign = tiered(merchant, budget_total=20_000)
    assert match(merchant, 300_000).refusals_to_alert == (campaign.id,)

    assert alert_budget_refused(merchant_id=merchant.pk, campaign_id=campaign.pk) is not None

    matching = match(merchant, 300_000)
    assert matching.budget_short == (campaign.id,)
    assert matching.refusals_to_alert == ()


def test_the_total_budget_must_cover_m_exactly(merchant):
    exact = live_campaign(merchant, budget_total=44_993)
    assert chosen(match(merchant, PHONE)) == exact.id

    short = live_campaign(MerchantFactory(), budget_total=44_992)
    matching = match(short.merchant, PHONE)
    assert chosen(matching) is None
    assert matching.budget_short == (short.id,)


def test_a_spent_campaign_leaves_the_term_to_the_next_best(merchant):
    spent = live_campaign(merchant, budget_total=40_000)  # fully free: M 44,993 does not fit
    half = live_campaign(merchant, offers=[(12, 5_000, 0)])  # C 22,496, M 22,496
    matching = match(merchant, PHONE)
    twelve = option(matching, 12)
    assert twelve.offer.campaign_id == half.id
    assert (twelve.price.consumer_fee, twelve.price.merchant_subsidy) == (22496, 22496)
    assert matching.budget_short == (spent.id,)


def test_short_on_one_term_still_applies_on_another(merchant):
    # 20,000 covers 3 terms' M (10,798) but not 12 terms' (44,993).
    campaign = live_campaign(
        merchant, budget_total=20_000, offers=[(3, 10_000, 0), (12, 10_000, 0)]
    )
    matching = match(merchant, PHONE)
    assert chosen(matching, 3) == campaign.id
    assert option(matching, 3).price.merchant_subsidy == 10_798
    assert chosen(matching, 12) is None
    assert matching.budget_short == (campaign.id,)


def test_the_remaining_daily_cap_must_cover_m(merchant):
    campaign = live_campaign(merchant, daily_cap=50_000)
    with transaction.atomic():
        budget_charge(campaign=campaign, amount=10_000, plan_id=None, charged_at=AT)

    # Today 40,000 is left: the phone's M of 44,993 does not fit.
    matching = match(merchant, PHONE)
    assert chosen(matching) is None
    assert matching.budget_short == (campaign.id,)
    # A smaller basket whose M (R(500000 × .075) = 37,500) fits still gets it.
    smaller = option(match(merchant, 500_000), 12)
    assert smaller.offer.campaign_id == campaign.id
    assert smaller.price.merchant_subsidy == 37_500
    # The next local day has its whole cap again.
    assert chosen(match(merchant, PHONE, at=AT + timedelta(days=1))) == campaign.id


def test_the_daily_cap_counts_the_merchants_local_day(merchant):
    campaign = live_campaign(merchant, daily_cap=50_000)
    late = datetime(2026, 11, 11, 23, 30, tzinfo=SHANGHAI)  # 15:30 UTC, same UTC day as below
    with transaction.atomic():
        budget_charge(campaign=campaign, amount=10_000, plan_id=None, charged_at=late)
    # 00:30 on 12 Nov in Shanghai is still 11 Nov in UTC, but a new local day: the cap is whole.
    assert chosen(match(merchant, PHONE, at=late + timedelta(hours=1))) == campaign.id
    assert chosen(match(merchant, PHONE, at=late + timedelta(minutes=10))) is None


# --------------------------------------------------------------------------------------------------
# Baskets: lines, scope, government subsidy


def test_half_cent_mixed_basket_half_share(merchant):
    """DESIGN §3.2's "half-cent, mixed basket, half share" row, through a scoped campaign."""
    campaign = live_campaign(
        merchant, offers=[(12, 5_000, 0)], all_products=False, categories=["phone"]
    )
    lines = (
        BasketLine(sku="PHONE-1", category="phone", amount=500_000),
        BasketLine(sku="CASE-9", category="accessories", amount=199_900),
    )
    twelve = option(match(merchant, 699_900, at=AT_1130, lines=lines), 12)
    assert twelve.offer.campaign_id == campaign.id
    assert (twelve.offer.in_scope_total, twelve.offer.eligible) == (500_000, 500_000)
    assert_price(
        twelve.price,
        P=699_900,
        F=52493,
        W=18750,
        C=33743,
        M=18750,
        first=(58325, 2822),
        rest=(58325, 2811),
        apr="8.78",
        first_due=date(2026, 12, 10),
    )


def test_excluded_skus_leave_the_basket_of_an_all_products_campaign(merchant):
    live_campaign(merchant, offers=[(12, 5_000, 0)], exclude_skus=["CASE-9"])
    lines = (
        BasketLine(sku="PHONE-1", category="phone", amount=500_000),
        BasketLine(sku="CASE-9", category="accessories", amount=199_900),
    )
    twelve = option(match(merchant, 699_900, at=AT_1130, lines=lines), 12)
    assert (twelve.offer.in_scope_total, twelve.offer.eligible) == (500_000, 500_000)
    assert (twelve.price.waived_fee, twelve.price.consumer_fee) == (18750, 33743)
    assert twelve.price.merchant_subsidy == 18750


def test_government_subsidy_is_spread_pro_rata_over_the_lines(merchant):
    # A = 800,000, G = 100,100, P = 699,900; the phone line L = 572,000 is in scope:
    # E = R(572000 × 699900 / 800000) = R(500428.5) = 500,429 (half up).
    live_campaign(merchant, offers=[(12, 5_000, 0)], all_products=False, categories=["phone"])
    lines = (
        BasketLine(sku="PHONE-1", category="phone", amount=572_000),
        BasketLine(sku="TV-OLD", category="trade-in", amount=228_000),
    )
    twelve = option(
        match(merchant, 800_000, at=AT_1130, government_subsidy=100_100, lines=lines), 12
    )
    assert (twelve.offer.in_scope_total, twelve.offer.eligible) == (572_000, 500_429)
    assert_price(
        twelve.price,
        P=699_900,
        F=52493,
        W=18766,  # R(52493 × 1/2 × 500429/699900) = R(18766.3)
        C=33727,
        M=18766,  # R(500429 × .075 / 2) = R(18766.09)
        first=(58325, 2817),
        rest=(58325, 2810),
        apr="8.78",
        first_due=date(2026, 12, 10),
    )


def test_categories_and_skus_add_up_and_exclusions_come_off(merchant):
    live_campaign(
        merchant,
        all_products=False,
        categories=["phone"],
        skus=["CASE-1"],
        exclude_skus=["PHONE-REFURB"],
    )
    lines = (
        BasketLine(sku="PHONE-1", category="phone", amount=400_000),
        BasketLine(sku="PHONE-REFURB", category="phone", amount=100_000),
        BasketLine(sku="CASE-1", category="accessories", amount=50_000),
        BasketLine(sku="CABLE", category="accessories", amount=49_900),
    )
    twelve = option(match(merchant, PHONE, lines=lines), 12)
    assert (twelve.offer.in_scope_total, twelve.offer.eligible) == (450_000, 450_000)
    assert_price(
        twelve.price,
        P=PHONE,
        F=44993,
        W=33750,  # R(44993 × 450000/599900) = R(33750.1)
        C=11243,
        M=33750,
        first=(49999, 947),
        rest=(49991, 936),
        apr=twelve.price.apr,
        first_due=date(2026, 12, 10),
    )


def test_a_product_restricted_campaign_needs_lines(merchant):
    scoped = live_campaign(merchant, all_products=False, categories=["phone"])
    assert chosen(match(merchant, PHONE)) is None
    line = (BasketLine(sku="PHONE-1", category="phone", amount=PHONE),)
    assert chosen(match(merchant, PHONE, lines=line)) == scoped.id


def test_exclusions_alone_also_need_lines():
    merchant = MerchantFactory()
    excluding = live_campaign(merchant, exclude_skus=["GIFT"])
    assert chosen(match(merchant, PHONE)) is None
    line = (BasketLine(sku="PHONE-1", category="phone", amount=PHONE),)
    assert chosen(match(merchant, PHONE, lines=line)) == excluding.id


def test_an_all_products_campaign_covers_the_whole_basket_without_lines(merchant):
    campaign = live_campaign(merchant)
    twelve = option(match(merchant, PHONE), 12)
    assert twelve.offer.campaign_id == campaign.id
    assert (twelve.offer.in_scope_total, twelve.offer.eligible) == (PHONE, PHONE)
    # With a government subsidy and no lines: L = A, so E = R(A × P / A) = P.
    with_g = option(match(merchant, 650_000, government_subsidy=50_100), 12)
    assert (with_g.offer.in_scope_total, with_g.offer.eligible) == (650_000, PHONE)
    assert (with_g.price.consumer_fee, with_g.price.merchant_subsidy) == (0, 44993)


def test_a_basket_with_nothing_in_scope_is_not_subsidised(merchant):
    live_campaign(merchant, all_products=False, categories=["phone"])
    lines = (BasketLine(sku="CABLE", category="accessories", amount=PHONE),)
    matching = match(merchant, PHONE, lines=lines)
    assert chosen(matching) is None  # E = 0, so W = M = 0: the campaign does not apply
    assert option(matching, 12).price.consumer_fee == 44993


# --------------------------------------------------------------------------------------------------
# Stores, channels, stacking, consumers, order limits


def test_a_campaign_limited_to_stores(merchant):
    campaign = live_campaign(merchant, stores=["SH01"])
    assert chosen(match(merchant, PHONE)) is None
    assert chosen(match(merchant, PHONE, store="BJ01")) is None
    assert chosen(match(merchant, PHONE, store="SH01")) == campaign.id


@pytest.mark.parametrize(
    ("channels", "basket_channel", "applies"),
    [
        (["online"], None, False),
        (["online"], "in_store", False),
        (["online"], "online", True),
        (["in_store"], None, False),
        (["in_store"], "online", False),
        (["in_store"], "in_store", True),
        (["online", "in_store"], None, True),
        (["online", "in_store"], "online", True),
        (["online", "in_store"], "in_store", True),
    ],
)
def test_channels(merchant, channels, basket_channel, applies):
    campaign = live_campaign(merchant, channels=channels)
    expected = campaign.id if applies else None
    assert chosen(match(merchant, PHONE, channel=basket_channel)) == expected


def test_a_campaign_that_does_not_stack_with_the_government_subsidy(merchant):
    campaign = live_campaign(merchant, stacks_with_government_subsidy=False)
    assert chosen(match(merchant, PHONE)) == campaign.id
    assert chosen(match(merchant, PHONE + 1, government_subsidy=1)) is None


def test_a_stacking_campaign_applies_with_the_government_subsidy(merchant):
    campaign = live_campaign(merchant)  # stacks by default
    assert chosen(match(merchant, PHONE + 1, government_subsidy=1)) == campaign.id


def test_the_per_consumer_limit(merchant):
    campaign = live_campaign(merchant, per_consumer_limit=1)
    assert chosen(match(merchant, PHONE)) is None  # no consumer_ref: not offered
    assert chosen(match(merchant, PHONE, consumer_ref="c-1")) == campaign.id

    with transaction.atomic():
        day = budget_charge(
            campaign=campaign, amount=44_993, plan_id=None, charged_at=AT, consumer_ref="c-1"
        )
    assert chosen(match(merchant, PHONE, consumer_ref="c-1")) is None  # used up
    assert chosen(match(merchant, PHONE, consumer_ref="c-2")) == campaign.id

    # A voided plan no longer counts toward the limit (§3.5).
    with transaction.atomic():
        budget_reverse(
            campaign=campaign, amount=44_993, plan_id=None, charge_day=day, consumer_ref="c-1"
        )
    assert chosen(match(merchant, PHONE, consumer_ref="c-1")) == campaign.id


def test_the_campaigns_order_limits_apply_to_p(merchant):
    campaign = live_campaign(merchant, min_amount=300_000, max_amount=600_000)
    assert chosen(match(merchant, 299_999)) is None
    assert chosen(match(merchant, 300_000)) == campaign.id
    assert chosen(match(merchant, 600_000)) == campaign.id
    assert chosen(match(merchant, 600_001)) is None
    # The limits are on P = A − G, not on the order amount.
    assert chosen(match(merchant, 650_000, government_subsidy=50_000)) == campaign.id
    assert chosen(match(merchant, 310_000, government_subsidy=10_001)) is None


def test_an_offer_waiving_and_charging_nothing_does_not_apply(merchant):
    # 1 bp of ¥100.00 on 12 terms: W = R(750 × .0001) = 0 and M = R(0.075) = 0.
    live_campaign(merchant, offers=[(12, 1, 0)])
    twelve = option(match(merchant, 10_000), 12)
    assert twelve.offer is None
    assert (twelve.price.consumer_fee, twelve.price.merchant_subsidy) == (750, 0)


def test_an_offer_that_waives_something_applies_even_when_m_rounds_to_zero(merchant):
    # 1 bp of ¥2,500.00 on 3 terms: F = 5750, W = R(0.575) = 1, M = R(250000 × .018 × .0001) = 0.
    campaign = live_campaign(merchant, offers=[(3, 1, 0)])
    three = option(match(merchant, 250_000), 3)
    assert three.offer.campaign_id == campaign.id
    assert (three.price.waived_fee, three.price.consumer_fee) == (1, 5749)
    assert three.price.merchant_subsidy == 0


# --------------------------------------------------------------------------------------------------
# Tie-breaks (§4): lowest C, then lower M, earlier starts_at, earlier created, smaller id


def ordered_ids():
    low, high = sorted([uuid.uuid4(), uuid.uuid4()], key=lambda u: u.int)
    return low, high


def set_created_at(campaign, when):
    type(campaign).objects.filter(pk=campaign.pk).update(created_at=when)


def test_lowest_consumer_fee_wins_over_everything_else(merchant):
    low, high = ordered_ids()
    half = live_campaign(
        merchant, id=low, offers=[(12, 5_000, 0)], starts_at=AT - timedelta(days=5)
    )
    full = live_campaign(merchant, id=high, starts_at=AT - timedelta(days=1))
    set_created_at(half, AT - timedelta(days=10))
    set_created_at(full, AT - timedelta(days=2))

    twelve = option(match(merchant, PHONE), 12)
    # full: C 0, M 44,993; half: C 22,496, M 22,496 — the consumer's fee decides, not the cost.
    assert twelve.offer.campaign_id == full.id
    assert (twelve.price.consumer_fee, twelve.price.merchant_subsidy) == (0, 44993)


def test_equal_consumer_fee_goes_to_the_lower_subsidy(merchant):
    # P = 200,000 on 3 terms, F = 4,600. Share 4993: W = R(2296.78) = 2297, M = R(1797.48) = 1797;
    # share 4994: W = R(2297.24) = 2297, M = R(1797.84) = 1798. Same C = 2,303.
    low, high = ordered_ids()
    dearer = live_campaign(
        merchant, id=low, offers=[(3, 4_994, 0)], starts_at=AT - timedelta(days=5)
    )
    cheaper = live_campaign(
        merchant, id=high, offers=[(3, 4_993, 0)], starts_at=AT - timedelta(days=1)
    )
    set_created_at(dearer, AT - timedelta(days=10))
    set_created_at(cheaper, AT - timedelta(days=2))

    three = option(match(merchant, 200_000), 3)
    assert three.offer.campaign_id == cheaper.id
    assert three.offer.share_bp == 4_993
    assert_price(
        three.price,
        P=200_000,
        F=4600,
        W=2297,
        C=2303,
        M=1797,
        first=(66668, 769),
        rest=(66666, 767),
        apr=three.price.apr,
        first_due=date(2026, 12, 10),
    )


def test_equal_fees_go_to_the_earlier_start(merchant):
    low, high = ordered_ids()
    later = live_campaign(merchant, id=low, starts_at=AT - timedelta(days=1))
    earlier = live_campaign(merchant, id=high, starts_at=AT - timedelta(days=2))
    set_created_at(later, AT - timedelta(days=10))
    set_created_at(earlier, AT - timedelta(days=3))
    assert chosen(match(merchant, PHONE)) == earlier.id


def test_equal_fees_and_start_go_to_the_earlier_created(merchant):
    low, high = ordered_ids()
    starts_at = AT - timedelta(days=1)
    newer = live_campaign(merchant, id=low, starts_at=starts_at)
    older = live_campaign(merchant, id=high, starts_at=starts_at)
    set_created_at(newer, AT - timedelta(days=2))
    set_created_at(older, AT - timedelta(days=2, microseconds=1))
    assert chosen(match(merchant, PHONE)) == older.id


def test_everything_equal_goes_to_the_smaller_uuid(merchant):
    # 7f… < 80… as PostgreSQL orders uuids (unsigned); a signed 128-bit compare would flip them.
    rest = uuid.uuid4().int & ((1 << 120) - 1)
    smaller = uuid.UUID(int=(0x7F << 120) | rest)
    larger = uuid.UUID(int=(0x80 << 120) | rest)
    starts_at = AT - timedelta(days=1)
    created_at = AT - timedelta(days=2)
    second = live_campaign(merchant, id=larger, starts_at=starts_at)
    first = live_campaign(merchant, id=smaller, starts_at=starts_at)
    set_created_at(second, created_at)
    set_created_at(first, created_at)
    assert chosen(match(merchant, PHONE)) == smaller

    # Created the other way round (rows inserted in the other order), the smaller id still wins.
    other = MerchantFactory()
    rest = uuid.uuid4().int & ((1 << 120) - 1)
    b = live_campaign(other, id=uuid.UUID(int=(0x7F << 120) | rest), starts_at=starts_at)
    a = live_campaign(other, id=uuid.UUID(int=(0x80 << 120) | rest), starts_at=starts_at)
    set_created_at(a, created_at)
    set_created_at(b, created_at)
    assert chosen(match(other, PHONE)) == b.id


def test_each_term_picks_its_own_winner(merchant):
    twelve_only = live_campaign(merchant)
    three_only = live_campaign(merchant, offers=[(3, 10_000, 0)])
    matching = match(merchant, PHONE)
    assert chosen(matching, 12) == twelve_only.id
    assert chosen(matching, 3) == three_only.id
    assert chosen(matching, 6) is None


# --------------------------------------------------------------------------------------------------
# Terms the merchant switched off, and the platform's limits


def test_a_switched_off_term_appears_only_with_a_campaign(merchant):
    merchant_set_paid_terms_disabled(merchant=merchant, terms=[3, 12])
    assert [t.term for t in match(merchant, PHONE).terms] == [6]

    campaign = live_campaign(merchant)
    matching = match(merchant, PHONE)
    assert [t.term for t in matching.terms] == [6, 12]
    assert chosen(matching, 12) == campaign.id
    assert option(matching, 12).price.consumer_fee == 0


def test_a_switched_off_term_disappears_when_its_campaign_does_not_apply(merchant):
    merchant_set_paid_terms_disabled(merchant=merchant, terms=[12])
    campaign = live_campaign(merchant, budget_total=40_000, channels=["online"])
    # Wrong channel: no campaign, so no paid 12-term option either.
    assert [t.term for t in match(merchant, 100_000, channel="in_store").terms] == [3, 6]
    # Short of budget for the phone (M 44,993 > 40,000): the same.
    short = match(merchant, PHONE, channel="online")
    assert [t.term for t in short.terms] == [3, 6]
    assert short.budget_short == (campaign.id,)
    # A basket whose M fits: 12 terms are back, free.
    fits = match(merchant, 100_000, channel="online")
    assert [t.term for t in fits.terms] == [3, 6, 12]
    assert chosen(fits, 12) == campaign.id


def test_p_below_every_terms_minimum(merchant):
    live_campaign(merchant)
    with pytest.raises(DomainError) as raised:
        match(merchant, 9_999)
    assert raised.value.code == "below_minimum"
    assert raised.value.extra["minimum"] == 10_000
    # The limits are on P: an order of ¥105.00 less a ¥6.00 subsidy finances ¥99.00.
    with pytest.raises(DomainError) as raised:
        match(merchant, 10_500, government_subsidy=600)
    assert raised.value.code == "below_minimum"


def test_p_above_every_terms_maximum(merchant):
    with pytest.raises(DomainError) as raised:
        match(merchant, 30_000_001)
    assert raised.value.code == "above_maximum"
    assert raised.value.extra["maximum"] == 30_000_000


def test_the_limits_themselves_are_inside(merchant):
    assert [t.term for t in match(merchant, 10_000).terms] == [3, 6, 12]
    top = match(merchant, 30_000_000)
    assert [t.term for t in top.terms] == [3, 6, 12]
    assert option(top, 12).price.consumer_fee == 2_250_000
