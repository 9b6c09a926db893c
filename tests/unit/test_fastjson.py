"""The orjson transcoder writes exactly the bytes the installed library's JSONTranscoder
writes (adapters/fastjson.py), and the mapper seals the chain with one encoding."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from payledger.adapters.chain import ChainError, LedgerMapper, broken_links, digest
from payledger.adapters.fastjson import FastJSONTranscoder
from payledger.domain.envelope import (
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    acting,
)
from tests.unit.test_invoice import T0, envelope

FIXTURE = Path(__file__).parent.parent / "fixtures" / "stored_v1.jsonl.gz"


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY = registered(JSONTranscoder())
FAST = registered(FastJSONTranscoder())


class Status(StrEnum):
    PAID = "paid"


class Rank(IntEnum):
    FIRST = 1


def outcome(transcoder: Transcoder, value: Any) -> bytes | type[BaseException]:
    try:
        return transcoder.encode(value)
    except (TypeError, ValueError, TranscodingNotRegisteredError) as error:
        return type(error)


def test_every_stored_event_of_the_fixture_encodes_to_the_same_bytes() -> None:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    assert len(rows) > 2000
    for row in rows:
        state = LIBRARY.decode(row["state"].encode())
        assert FAST.encode(state) == row["state"].encode() == LIBRARY.encode(state)


@pytest.mark.parametrize("value", [
    {"s": "tab\t nl\n cr\r bs\\ quote\" ctrl\x00\x01\x1f del\x7f",
     "t": "ls\u2028 ps\u2029 e\u00e9 \U0001f600"},
    {"u": uuid4(), "d": datetime(2026, 1, 5, 3, 0, tzinfo=UTC), "m": Decimal("1.10")},
    {"local": datetime(2026, 1, 5, 3, 0, tzinfo=timezone(timedelta(hours=-3)))},
    {"nested": [{"items": ({"id": uuid4()},)}, [1, [2, [None, True, False]]]]},
    {"enum": Status.PAID, "rank": Rank.FIRST},
    {"big": 2**70, "neg": -(2**63) - 1, "edge": 2**63 - 1},
    {"float": 1e16, "nan": float("nan"), "small": 0.1},
    {1: "int key", None: "none key"},
    {"date": datetime(2026, 1, 5).date()},
    {"naive": datetime(2026, 1, 5, 3, 0)},
    {"surrogate": "\ud800"},
    {"set": {1, 2}},
])
def test_edge_values_encode_alike_or_fail_alike(value: Any) -> None:
    assert outcome(FAST, value) == outcome(LIBRARY, value)


scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text() | st.uuids() | st.decimals(allow_nan=False)
           | st.datetimes(timezones=st.just(UTC)) | st.sampled_from(list(Status)))
states = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(states)
def test_any_state_encodes_alike(value: Any) -> None:
    assert outcome(FAST, value) == outcome(LIBRARY, value)


class Note(LedgerAggregate):
    TOPIC = "payledger.tests:Note"

    class Written(LedgerCreated):
        TOPIC = "payledger.tests:Note.Written"
        text: str

    @event(Written)
    def __init__(self, text: str) -> None:
        self.text = text

    class Edited(LedgerEvent):
        TOPIC = "payledger.tests:Note.Edited"
        text: str

    @event(Edited)
    def edit(self, text: str) -> None:
        self.text = text


def test_the_mapper_seals_pending_events_in_one_save_and_stores_library_bytes() -> None:
    mapper = LedgerMapper(transcoder=FAST)
    with acting(envelope(T0)):
        note = Note(text="é")
        note.edit(text="two")
        note.edit(text="three")
    with mapper.saving() as heads:
        stored = [mapper.to_stored_event(e) for e in note.collect_events()]
    assert broken_links(LIBRARY, stored) == []
    for record in stored:  # what was stored is what the library would have written
        state = LIBRARY.decode(record.state)
        assert LIBRARY.encode(state) == record.state
        assert state["hash"] == digest(LIBRARY, record.topic, record.originator_id,
                                       record.originator_version, state)
    assert heads[note.id] == (3, LIBRARY.decode(stored[-1].state)["hash"])

    note.chain_head = heads[note.id][1]  # as the application's save does
    with acting(envelope(T0)):
        note.edit(text="four")
    with mapper.saving():
        later = [mapper.to_stored_event(e) for e in note.collect_events()]
    assert broken_links(LIBRARY, stored + later) == []


def test_an_unlinked_event_is_refused_rather_than_stored_with_a_broken_link() -> None:
    mapper = LedgerMapper(transcoder=FAST)
    with acting(envelope(T0)):
        note = Note(text="one")
        note.edit(text="two")
    first, second = note.collect_events()
    with mapper.saving():
        mapper.to_stored_event(first)
    with mapper.saving(), pytest.raises(ChainError, match="no predecessor"):
        mapper.to_stored_event(second)  # its predecessor was stored by another save


def test_events_collected_from_one_aggregate_in_two_turns_of_a_save_still_chain() -> None:
    mapper = LedgerMapper(transcoder=FAST)
    with acting(envelope(T0)):
        note = Note(text="one")
    with mapper.saving() as heads:
        stored = [mapper.to_stored_event(e) for e in note.collect_events()]
    note.chain_head = heads[note.id][1]
    with acting(envelope(T0)):
        note.edit(text="two")
        first_turn = note.collect_events()  # as a policy collects, then triggers again
        note.edit(text="three")  # nothing pending: it takes the stale chain head
        second_turn = note.collect_events()
    with mapper.saving():
        stored += [mapper.to_stored_event(e) for e in [*first_turn, *second_turn]]
    assert broken_links(LIBRARY, stored) == []
