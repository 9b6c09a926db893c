"""The buyer (Customer aggregate) side of other commands.

`link_customer` is called by the handlers that open something a buyer keeps (an
installment plan, a subscription) so that a later email change reaches it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from payledger.work import Work


def link_customer(work: Work, customer: dict[str, Any], kind: str, aggregate_id: UUID) -> None:
    """Record that the buyer `customer` holds `kind` `aggregate_id` (to be implemented)."""
    del work, customer, kind, aggregate_id
