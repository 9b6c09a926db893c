"""Idempotency records: no command of their own; `payledger.commanding` writes one with
the events of every command that carries an `idempotency_key`, in either application."""

from __future__ import annotations

from payledger.domain.idempotency import IdempotencyRecord
from payledger.wiring import AggregateWiring

IDEMPOTENCY_RECORDS = AggregateWiring(kind=IdempotencyRecord, app="every")
