"""The record of a command that carried an idempotency key.

It is saved in the same transaction as the command's events; its id is derived from
the account and the key, so a second command with the same key collides on the
store's uniqueness guarantee instead of writing twice.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated

NAMESPACE = UUID("6f1c0c2e-5b8a-4f0e-9b43-1d2a8c7e4a10")


class IdempotencyRecord(LedgerAggregate):
    TOPIC = "payledger:IdempotencyRecord"
    KIND = "IdempotencyRecord"

    @staticmethod
    def create_id(account: str, key: str) -> UUID:
        """The record's id: derived, so a second use of the key collides with the first."""
        return uuid5(NAMESPACE, f"{account}\n{key}")

    class Recorded(LedgerCreated):
        TOPIC = "payledger:IdempotencyRecord.Recorded"
        key: str
        command: str
        digest: str
        result: dict[str, Any]

    @event(Recorded)
    def __init__(
        self, id: UUID, key: str, command: str, digest: str, result: dict[str, Any]
    ) -> None:
        self.key = key
        self.command = command
        self.digest = digest
        self.result = result

    @classmethod
    def recorded(
        cls, account: str, key: str, command: str, digest: str, result: dict[str, Any]
    ) -> Recorded:
        """The record's creation event alone, as the library's construction makes it
        (the same stored bytes), without building the aggregate: a save needs only the
        event, and the record is read back only after a collision. Inside a command
        (its envelope open)."""
        # The library makes each event class a dataclass when it is defined; a type
        # checker sees only the base's fields, so the record's own go as a mapping.
        fields: dict[str, Any] = {"key": key, "command": command, "digest": digest,
                                  "result": result}
        return cls.Recorded(
            originator_id=cls.create_id(account, key), originator_version=1,
            timestamp=cls.Recorded.create_timestamp(), originator_topic=cls.TOPIC, **fields,
        )
