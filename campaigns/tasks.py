"""Campaign jobs on Celery beat. Tasks take no model instances and are safe to re-run."""

from celery import shared_task

from campaigns.services import campaigns_end_due


@shared_task(name="campaigns.end_due", ignore_result=True)
def campaigns_end_due_task() -> int:
    """End approved and paused campaigns whose window has closed (runs every minute)."""
    return campaigns_end_due()
