"""An idempotency record's event built alone is the one the aggregate's creation makes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from payledger.adapters.chain import LedgerMapper
from payledger.domain.envelope import Envelope, acting
from payledger.domain.idempotency import IdempotencyRecord


def test_the_record_event_alone_stores_what_the_aggregate_stores() -> None:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    mapper = LedgerMapper(transcoder=transcoder)
    envelope = Envelope(account="acct-1", at=datetime(2026, 1, 5, tzinfo=UTC), actor="checkout",
                        correlation_id=uuid4(), causation_id=None, command_id=uuid4())
    fields = {"key": "sale-1", "command": "CreateInvoice", "digest": "d" * 64,
              "result": {"aggregate_id": str(uuid4()), "command_id": str(uuid4()), "events": 2}}
    with acting(envelope):
        alone = IdempotencyRecord.recorded("acct-1", **fields)
        record = IdempotencyRecord(id=IdempotencyRecord.create_id("acct-1", "sale-1"), **fields)
    (made,) = record.collect_events()
    assert type(alone) is type(made)
    with mapper.saving():
        stored_alone = mapper.to_stored_event(alone)
    with mapper.saving():
        stored_made = mapper.to_stored_event(made)
    assert (stored_alone.originator_id, stored_alone.originator_version, stored_alone.topic) == (
        stored_made.originator_id, stored_made.originator_version, stored_made.topic)
    state_alone, state_made = (transcoder.decode(s.state) for s in (stored_alone, stored_made))
    assert list(state_alone) == list(state_made)
    for state in (state_alone, state_made):
        del state["timestamp"], state["hash"]
    assert state_alone == state_made
    rebuilt = alone.mutate(None)
    assert (rebuilt.key, rebuilt.result, rebuilt.account) == ("sale-1", fields["result"], "acct-1")
