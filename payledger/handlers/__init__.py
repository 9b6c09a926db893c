"""Command handlers, one module per aggregate; importing this package registers them all."""

from payledger.handlers import invoice, refund
from payledger.handlers.registry import HANDLERS, INVOICE_OUTCOME_HOOKS, handles

__all__ = ["HANDLERS", "INVOICE_OUTCOME_HOOKS", "handles", "invoice", "refund"]
