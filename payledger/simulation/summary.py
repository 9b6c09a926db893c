"""What a simulation reached: states per aggregate type, and the money moved."""

from __future__ import annotations

from collections import Counter
from typing import Any

from payledger.domain.invoice import Invoice
from payledger.ledger import Ledger
from payledger.simulation.base import Report


def states(ledger: Ledger, report: Report) -> dict[str, Counter[str]]:
    """How many aggregates of each type ended in each state, with the overlays."""
    reached: dict[str, Counter[str]] = {}
    for kind, ids in report.ids.items():
        for aggregate_id in dict.fromkeys(ids):
            aggregate = ledger.repository.get(aggregate_id)
            for row, state in state_names(kind, aggregate):
                reached.setdefault(row, Counter())[state] += 1
    return reached


def state_names(kind: str, aggregate: Any) -> list[tuple[str, str]]:
    """(table row, state) pairs: the status, and what sits beside it."""
    names = [(kind, aggregate.status)] if hasattr(aggregate, "status") else []
    if kind == "Invoice":
        names += [(f"{kind} (overlays)", overlay) for overlay in _invoice_overlays(aggregate)]
    elif kind == "Product":
        names = [("Coproduction", entry["status"]) for entry in aggregate.coproductions]
    elif kind == "InstallmentPlan":
        names += [("Installment", entry["state"]) for entry in aggregate.installments]
    return names


def _invoice_overlays(invoice: Invoice) -> list[str]:
    overlays = [f"dispute {invoice.dispute}"] if invoice.dispute else []
    if invoice.abandoned_at:
        overlays.append("abandoned")
    if invoice.paid_at and invoice.expires_at and invoice.paid_at > invoice.expires_at:
        overlays.append("paid late")
    if invoice.warranty_ended:
        overlays.append("warranty ended")
    return overlays


def money(ledger: Ledger, report: Report) -> dict[str, int]:
    """Totals in cents: paid, refunded, charged back, and each role's share of sales."""
    totals: Counter[str] = Counter()
    for invoice_id in report.ids.get("Invoice", []):
        invoice = ledger.load(Invoice, invoice_id)
        totals["paid"] += invoice.paid
        totals["refunded"] += invoice.refunded
        totals["charged back"] += invoice.charged_back
        for part in invoice.splits:
            totals[f"share: {part['role']}"] += part["amount"]
    return dict(totals)
