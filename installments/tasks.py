"""Installment jobs on Celery beat. Tasks take ids and dates, never model instances, and are safe to
re-run."""

from datetime import date, timedelta

from celery import shared_task

from installments.idempotency import idempotency_purge
from installments.settlement import (
    settlement_batch_failed,
    settlement_batch_settle,
    settlement_run_for_date,
    settlement_sweep,
    settlement_today,
)


@shared_task(name="installments.idempotency_purge", ignore_result=True)
def idempotency_purge_task() -> int:
    """Delete stored API outcomes older than the retention period (hourly)."""
    return idempotency_purge()


@shared_task(name="installments.settle_yesterday", ignore_result=True)
def settle_yesterday_task(business_date: str | None = None) -> int:
    """Start the nightly run for yesterday's business date (or the ISO date given)."""
    day = date.fromisoformat(business_date) if business_date else settlement_today() - timedelta(1)
    return settlement_run_for_date(business_date=day, requested_by="beat").pk


# acks_late: a batch is idempotent (a done batch does nothing and a crash rolls it back whole), so
# a message redelivered after a lost worker is safe; the broker's visibility timeout is longer than
# any batch (settings). Retries are capped, with backoff; after the last one the batch is failed.
@shared_task(
    bind=True,
    name="installments.settle_batch",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=4,
)
def settle_batch_task(self, batch_id: int) -> bool:
    try:
        return settlement_batch_settle(batch_id=batch_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            settlement_batch_failed(batch_id=batch_id, error=repr(exc))
            raise
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 600)) from exc


@shared_task(name="installments.settlement_sweep", ignore_result=True)
def settlement_sweep_task() -> int:
    """Re-enqueue settlement batches whose worker was lost."""
    return settlement_sweep()
