"""Campaign jobs on Celery beat. Tasks take no model instances and are safe to re-run."""

from celery import shared_task

from campaigns.alerts import alert_email_send, alerts_sweep
from campaigns.services import campaigns_end_due


@shared_task(name="campaigns.end_due", ignore_result=True)
def campaigns_end_due_task() -> int:
    """End approved and paused campaigns whose window has closed (runs every minute)."""
    return campaigns_end_due()


@shared_task(
    name="campaigns.alert_email", ignore_result=True, max_retries=5, default_retry_delay=60
)
def campaign_alert_email_task(alert_id: int) -> bool:
    """Send one budget alert's e-mail (a no-op once sent)."""
    return alert_email_send(alert_id=alert_id)


@shared_task(name="campaigns.alerts_sweep", ignore_result=True)
def campaign_alerts_sweep_task() -> dict[str, int]:
    """Record and send the budget alerts a lost task or a failed recording missed."""
    return alerts_sweep()
