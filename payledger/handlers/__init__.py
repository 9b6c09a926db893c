"""Command handlers, one module per aggregate; importing this package registers them all."""

from payledger.handlers import (
    affiliation,
    balance,  # registers in BALANCE_HANDLERS: balance commands run on the Settlement
    coupon,
    customer,
    installments,
    invoice,
    product,
    refund,
    subscription,
)
from payledger.handlers.registry import HANDLERS, INVOICE_OUTCOME_HOOKS, handles

__all__ = [
    "HANDLERS", "INVOICE_OUTCOME_HOOKS", "affiliation", "balance", "coupon", "customer", "handles",
    "installments", "invoice", "product", "refund", "subscription",
]
