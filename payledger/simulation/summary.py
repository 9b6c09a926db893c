"""What a simulation reached: states per aggregate type, and the money moved."""

from __future__ import annotations

from collections import Counter
from typing import Any

from payledger.domain.balance import Balance
from payledger.domain.envelope import LedgerAggregate
from payledger.domain.invoice import Invoice
from payledger.ledger import Ledger
from payledger.settlement import Settlement
from payledger.simulation.base import Report

SETTLEMENT_KINDS = ("Balance", "WithdrawalProof")
"""The aggregates the settlement's store holds; the others are the Ledger's."""


def states(ledger: Ledger, report: Report,
           settlement: Settlement | None = None) -> dict[str, Counter[str]]:
    """How many aggregates of each type ended in each state, with the overlays."""
    reached: dict[str, Counter[str]] = {}
    for kind, ids in report.ids.items():
        app = settlement if kind in SETTLEMENT_KINDS and settlement is not None else ledger
        for aggregate_id in dict.fromkeys(ids):
            aggregate: LedgerAggregate = app.repository.get(aggregate_id)
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
    elif kind == "Balance":
        names += [("Withdrawal", entry["status"]) for entry in aggregate.withdrawals.values()]
    elif kind == "InstallmentPlan":
        names += [("Installment", entry["state"]) for entry in aggregate.installments]
    elif kind == "Document":
        names = [("Nota fiscal", aggregate.fiscal)] if aggregate.fiscal else []
        names += [("Receipt", status) for status in aggregate.receipts.values()]
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


MONEY_TOPICS = ("payledger:Invoice.Paid", "payledger:Invoice.Refunded",
                "payledger:Invoice.ChargedBack")


def money(ledger: Ledger, after: int = 0) -> dict[str, int]:
    """Totals in cents written after log position `after`: paid, refunded, charged back,
    and each role's share of what was paid (read off the log, every invoice counted)."""
    totals: Counter[str] = Counter({"paid": 0, "refunded": 0, "charged back": 0})
    names = dict(zip(MONEY_TOPICS, ("paid", "refunded", "charged back"), strict=True))
    while page := ledger.recorder.select_notifications(
            start=after, limit=1000, topics=MONEY_TOPICS, inclusive_of_start=False):
        for notification in page:
            state = ledger.mapper.transcoder.decode(notification.state)
            totals[names[notification.topic]] += state["amount"]
            for part in state.get("splits", []):
                totals[f"share: {part['role']}"] += part["amount"]
        after = page[-1].id
    return dict(totals)


def balances(settlement: Settlement) -> list[Balance]:
    """Every balance the settlement holds, the platform's included."""
    return sorted(settlement.balances(), key=lambda balance: (balance.platform, balance.party))


def adjustments(settlement: Settlement) -> int:
    """The sum of every manual balance adjustment, in cents."""
    total, after = 0, 0
    while page := settlement.recorder.select_notifications(
            start=after, limit=1000, topics=("payledger:Balance.Adjusted",),
            inclusive_of_start=False):
        total += sum(settlement.mapper.transcoder.decode(n.state)["amount"] for n in page)
        after = page[-1].id
    return total
