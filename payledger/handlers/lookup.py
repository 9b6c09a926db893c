"""Loading an aggregate that may not exist yet (ids derived from names: codes, products)."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from payledger.domain.envelope import LedgerAggregate
from payledger.domain.errors import NotFound
from payledger.work import Work

A = TypeVar("A", bound=LedgerAggregate)


def find(work: Work, kind: type[A], aggregate_id: UUID) -> A | None:
    """The aggregate, tracked by `work`, or None when it does not exist."""
    try:
        return work.get(kind, aggregate_id)
    except NotFound:
        return None
