"""Commands: what a caller asks of the ledger, validated before anything is loaded.

Each command names the permission it needs. Constructing one with bad input raises
`payledger.domain.errors.ValidationError` naming the field (dotted for nested fields),
never pydantic's own error, so callers handle one hierarchy. One module per aggregate;
this package re-exports them all.
"""

from payledger.domain.commands.base import (
    Command,
    from_pydantic,
)
from payledger.domain.commands.invoice import (
    AbandonCheckout,
    ApplyDiscount,
    ApproveCard,
    CreateInvoice,
    DeclineCard,
    EndWarranty,
    ExpireInvoice,
    InvoiceCommand,
    IssueBoleto,
    IssuePix,
    Item,
    LoseDispute,
    MarkUncollectible,
    OpenDispute,
    RecordPayment,
    RequestCharge,
    VoidInvoice,
    WinDispute,
)
from payledger.domain.commands.refund import (
    ApproveRefund,
    FailRefund,
    RefundCommand,
    RejectRefund,
    RequestRefund,
    SendRefund,
    SucceedRefund,
    WithdrawRefund,
)

__all__ = [
    "AbandonCheckout",
    "ApplyDiscount",
    "ApproveCard",
    "ApproveRefund",
    "Command",
    "CreateInvoice",
    "DeclineCard",
    "EndWarranty",
    "ExpireInvoice",
    "FailRefund",
    "InvoiceCommand",
    "IssueBoleto",
    "IssuePix",
    "Item",
    "LoseDispute",
    "MarkUncollectible",
    "OpenDispute",
    "RecordPayment",
    "RefundCommand",
    "RejectRefund",
    "RequestCharge",
    "RequestRefund",
    "SendRefund",
    "SucceedRefund",
    "VoidInvoice",
    "WinDispute",
    "WithdrawRefund",
    "from_pydantic",
]
