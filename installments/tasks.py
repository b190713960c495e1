"""Installment jobs on Celery beat. Tasks take ids and dates, never model instances, and are safe to
re-run."""

from celery import shared_task

from installments.idempotency import idempotency_purge


@shared_task(name="installments.idempotency_purge", ignore_result=True)
def idempotency_purge_task() -> int:
    """Delete stored API outcomes older than the retention period (hourly)."""
    return idempotency_purge()
