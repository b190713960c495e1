"""Budget alerts (DESIGN.md §5): one notice and one e-mail when a campaign crosses its alert
threshold, and one at its first refusal for lack of budget; an applied raise re-arms both.

A notice is recorded by a conditional UPDATE of the campaign (``*_alert_arm`` moves to ``alert_arm``
only if it was elsewhere), so parallel checkouts record it once. The e-mail is a task enqueued after
commit; the notice is also its outbox, and ``alerts_sweep`` (Celery beat) sends what a lost task
never did and records what a failed recording missed, so nothing on the checkout path depends on a
task being delivered."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, CampaignAlert, CampaignStatus
from merchants.models import Membership, Merchant

logger = logging.getLogger(__name__)

# The campaign column that remembers, per kind, the arming an alert last fired for.
_ARM_COLUMN = {
    CampaignAlert.Kind.THRESHOLD: "threshold_alert_arm",
    CampaignAlert.Kind.BUDGET_REFUSED: "refusal_alert_arm",
}
# An alert still unsent this long after it was recorded is the sweep's to send.
UNSENT_GRACE = timedelta(minutes=1)


def threshold_crossed(*, used: int, total: int, threshold_bp: int) -> bool:
    return used * 10_000 >= threshold_bp * total


def alert_record(
    *, merchant_id: uuid.UUID, campaign_id: uuid.UUID, kind: str
) -> CampaignAlert | None:
    """Record the ``kind`` notice for the campaign's current arming unless it already fired, in the
    caller's transaction; the e-mail goes out after commit. Returns the new notice, or None."""
    column = _ARM_COLUMN[kind]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE campaigns_campaign SET {column} = alert_arm
             WHERE id = %s AND merchant_id = %s AND {column} IS DISTINCT FROM alert_arm
            RETURNING alert_arm, budget_total, budget_used
            """,  # noqa: S608 - the column comes from _ARM_COLUMN, never from input
            [campaign_id, merchant_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    arm, total, used = row
    alert = CampaignAlert.objects.create(
        merchant_id=merchant_id,
        campaign_id=campaign_id,
        kind=kind,
        arm=arm,
        budget_total=total,
        budget_used=used,
    )
    transaction.on_commit(lambda: _enqueue_email(alert.pk))
    logger.info("budget alert %s for campaign %s (arm %s)", kind, campaign_id, arm)
    return alert


def alert_budget_refused(*, merchant_id: uuid.UUID, campaign_id: uuid.UUID) -> CampaignAlert | None:
    """The first refusal for lack of budget since the campaign was last armed (its own transaction:
    callers record it after the refused checkout rolled back)."""
    with transaction.atomic():
        return alert_record(
            merchant_id=merchant_id,
            campaign_id=campaign_id,
            kind=CampaignAlert.Kind.BUDGET_REFUSED,
        )


def _enqueue_email(alert_id: int) -> None:
    from campaigns.tasks import campaign_alert_email_task

    try:
        campaign_alert_email_task.delay(alert_id)
    except Exception:  # a broker outage must not fail a checkout; the sweep sends it later
        logger.exception("could not enqueue the e-mail of budget alert %s", alert_id)


def _recipients(campaign: Campaign) -> list[str]:
    if campaign.alert_emails:
        return list(campaign.alert_emails)
    owners = Membership.objects.filter(
        merchant_id=campaign.merchant_id, role=Membership.Role.OWNER
    ).exclude(user__email="")
    return sorted({m.user.email for m in owners.select_related("user")})


def _message(alert: CampaignAlert, campaign: Campaign) -> tuple[str, str]:
    used, total = alert.budget_used, alert.budget_total
    share = f"{used * 100 // total}%" if total else "-"
    if alert.kind == CampaignAlert.Kind.THRESHOLD:
        subject = f"Campaign “{campaign.name}” has used {share} of its budget"
        lead = (
            f"The campaign has reached its alert threshold "
            f"({campaign.alert_threshold_bp / 100:g}% of the budget)."
        )
    else:
        subject = f"Campaign “{campaign.name}” is out of budget"
        lead = (
            "A checkout could not use the campaign because its remaining budget did not cover it."
        )
    body = (
        f"{lead}\n\nBudget: {total} (minor units)\nUsed: {used}\n"
        f"Remaining: {total - used}\n\nRaise the budget in the back office to keep it running; "
        "a raise re-arms these alerts.\n"
    )
    return subject, body


def alert_email_send(*, alert_id: int) -> bool:
    """Send one notice's e-mail unless it went out already (safe to run twice, or in parallel)."""
    with transaction.atomic():
        alert = (
            CampaignAlert.objects.select_for_update(skip_locked=True)
            .filter(pk=alert_id, emailed_at__isnull=True)
            .select_related("campaign")
            .first()
        )
        if alert is None:
            return False
        recipients = _recipients(alert.campaign)
        if recipients:
            subject, body = _message(alert, alert.campaign)
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        alert.emailed_at = timezone.now()
        alert.recipients = recipients
        alert.save(update_fields=["emailed_at", "recipients"])
    logger.info(
        "budget alert %s of campaign %s e-mailed to %d recipient(s)",
        alert.kind,
        alert.campaign_id,
        len(recipients),
        extra={"alert_id": alert.pk, "campaign_id": str(alert.campaign_id)},
    )
    return True


def alerts_sweep(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Catch what a lost task or a failed recording missed: record threshold notices for campaigns
    past it, refusal notices for live campaigns whose budget is spent, and send unsent e-mails."""
    from campaigns.selectors import campaign_budget_spent, campaign_list, merchant_pricing

    now = now or timezone.now()
    recorded = 0
    last_id = None
    # Walk approved and paused campaigns in id order, in batches (never one unbounded query).
    while True:
        batch = Campaign.objects.filter(
            status__in=[CampaignStatus.APPROVED, CampaignStatus.PAUSED]
        ).order_by("id")
        if last_id is not None:
            batch = batch.filter(id__gt=last_id)
        rows = list(
            batch.values_list(
                "id",
                "merchant_id",
                "budget_used",
                "budget_total",
                "alert_threshold_bp",
                "alert_arm",
                "threshold_alert_arm",
            )[:batch_size]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        for pk, merchant_id, used, total, bp, arm, fired in rows:
            if fired != arm and threshold_crossed(used=used, total=total, threshold_bp=bp):
                with transaction.atomic():
                    recorded += bool(
                        alert_record(
                            merchant_id=merchant_id,
                            campaign_id=pk,
                            kind=CampaignAlert.Kind.THRESHOLD,
                        )
                    )
    # Live campaigns whose budget is spent and whose refusal has not been noted for this arming.
    pending = (
        Campaign.objects.filter(status=CampaignStatus.APPROVED, starts_at__lte=now, ends_at__gt=now)
        .exclude(refusal_alert_arm=F("alert_arm"))
        .values_list("merchant_id", flat=True)
        .distinct()
    )
    for merchant in Merchant.objects.filter(pk__in=list(pending), status=Merchant.Status.ACTIVE):
        pricing = merchant_pricing(merchant=merchant, at=now)
        live = campaign_list(merchant=merchant).filter(
            status=CampaignStatus.APPROVED, starts_at__lte=now, ends_at__gt=now
        )
        for campaign in live:
            if campaign.refusal_alert_arm == campaign.alert_arm:
                continue
            if campaign_budget_spent(
                campaign, pricing=pricing, used_today=campaign.used_today_annotated
            ):
                recorded += bool(
                    alert_budget_refused(merchant_id=merchant.pk, campaign_id=campaign.pk)
                )
    sent = 0
    unsent = CampaignAlert.objects.filter(
        emailed_at__isnull=True, created_at__lte=now - UNSENT_GRACE
    ).values_list("pk", flat=True)
    for alert_id in list(unsent[:batch_size]):
        sent += alert_email_send(alert_id=alert_id)
    return {"recorded": recorded, "sent": sent}
