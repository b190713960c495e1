"""The operators' console for installments: pricing, plans and the ledger, settlement."""

from installments.admin import books, pricing, settlement

__all__ = ["books", "pricing", "settlement"]
