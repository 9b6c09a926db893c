"""What a simulation reached: states per aggregate type, and the money moved."""

from __future__ import annotations

from collections import Counter

from payledger.domain.invoice import Invoice
from payledger.domain.refund import Refund
from payledger.ledger import Ledger
from payledger.simulation.base import Report


def states(ledger: Ledger, report: Report) -> dict[str, Counter[str]]:
    """How many invoices and refunds ended in each state, and the dispute outcomes."""
    invoices = [ledger.load(Invoice, invoice_id) for invoice_id in report.ids.get("Invoice", [])]
    refunds = [ledger.load(Refund, refund_id) for refund_id in report.ids.get("Refund", [])]
    return {
        "Invoice": Counter(invoice.status for invoice in invoices),
        "Invoice (overlays)": Counter(
            [f"dispute {inv.dispute}" for inv in invoices if inv.dispute]
            + ["abandoned" for inv in invoices if inv.abandoned_at]
            + ["paid late" for inv in invoices if inv.paid_at and inv.expires_at
               and inv.paid_at > inv.expires_at]
            + ["warranty ended" for inv in invoices if inv.warranty_ended]),
        "Refund": Counter(refund.status for refund in refunds),
    }


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
