"""Valid command inputs for tests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from payledger.domain import commands as c

CUSTOMER: dict[str, Any] = {
    "name": "Ana Souza", "email": "ana@example.com", "phone": "+5511999990000",
    "country": "BR", "document": "11144477735",
}
SPLIT: dict[str, Any] = {
    "producer": "producer-1", "platform_fee_bps": 990, "platform_fee_fixed": 100,
    "affiliate": {"party": "affiliate-1", "bps": 3000},
    "coproducers": [{"party": "coproducer-1", "bps": 2500}],
}
TXID = "a" * 30
BOLETO_LINE = "2" * 47


def create_invoice(method: str = "card", price: int = 10_000, **extra: Any) -> c.CreateInvoice:
    fields: dict[str, Any] = {
        "items": [{"product_id": "course-1", "unit_price": price}],
        "customer": CUSTOMER, "currency": "BRL", "method": method, "split": SPLIT,
    }
    return c.CreateInvoice(**{**fields, **extra})


def request_refund(invoice_id: UUID, amount: int | None = None, **extra: Any) -> c.RequestRefund:
    fields: dict[str, Any] = {
        "invoice_id": invoice_id, "amount": amount, "justification": "not what I expected",
    }
    return c.RequestRefund(**{**fields, **extra})
