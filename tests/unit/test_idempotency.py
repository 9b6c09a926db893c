"""An idempotency record's event built alone is the one the aggregate's creation makes."""

from __future__ import annotations

from uuid import uuid4

from payledger.adapters.chain import LedgerMapper
from payledger.domain.envelope import acting
from payledger.domain.idempotency import IdempotencyRecord
from tests.unit.test_fastjson import LIBRARY
from tests.unit.test_invoice import ACCOUNT, T0, envelope


def test_the_record_event_alone_stores_what_the_aggregate_stores() -> None:
    mapper = LedgerMapper(transcoder=LIBRARY)
    fields = {"key": "sale-1", "command": "CreateInvoice", "digest": "d" * 64,
              "result": {"aggregate_id": str(uuid4()), "command_id": str(uuid4()), "events": 2}}
    with acting(envelope(T0)):
        alone = IdempotencyRecord.recorded(ACCOUNT, **fields)
        record = IdempotencyRecord(id=IdempotencyRecord.create_id(ACCOUNT, "sale-1"), **fields)
    (made,) = record.collect_events()
    assert type(alone) is type(made)
    with mapper.saving():
        stored_alone = mapper.to_stored_event(alone)
    with mapper.saving():
        stored_made = mapper.to_stored_event(made)
    assert (stored_alone.originator_id, stored_alone.originator_version, stored_alone.topic) == (
        stored_made.originator_id, stored_made.originator_version, stored_made.topic)
    state_alone, state_made = (LIBRARY.decode(s.state) for s in (stored_alone, stored_made))
    assert list(state_alone) == list(state_made)
    for state in (state_alone, state_made):
        del state["timestamp"], state["hash"]
    assert state_alone == state_made
    rebuilt = alone.mutate(None)
    assert (rebuilt.key, rebuilt.result, rebuilt.account) == ("sale-1", fields["result"], ACCOUNT)
