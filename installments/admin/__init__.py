"""The operators' console for installments: pricing, plans and the ledger, settlement, and the
beat's schedule (periodic tasks)."""

from installments.admin import books, periodic_tasks, pricing, settlement

__all__ = ["books", "periodic_tasks", "pricing", "settlement"]
