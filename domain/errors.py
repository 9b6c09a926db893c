"""One hierarchy for every rejected input (DESIGN.md §4).

Each error names the field or the state it is about, so that a caller can show it
without parsing the message. Nothing is written when one of these is raised.
"""

from __future__ import annotations


class PayLedgerError(Exception):
    """The root of every error payledger raises on purpose."""


class ValidationError(PayLedgerError):
    """An input value is malformed or out of range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(PayLedgerError):
    """The aggregate (or record) the command names does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class InvalidTransition(PayLedgerError):
    """A command is not allowed in the aggregate's current state."""

    def __init__(self, kind: str, state: str, command: str, detail: str = "") -> None:
        text = f"{kind} in state {state!r} cannot {command}"
        super().__init__(f"{text}: {detail}" if detail else text)
        self.kind = kind
        self.state = state
        self.command = command
        self.detail = detail


class Forbidden(PayLedgerError):
    """The actor lacks the permission, or acts for another account."""

    def __init__(self, actor: str, action: str, detail: str) -> None:
        super().__init__(f"actor {actor} may not {action}: {detail}")
        self.actor = actor
        self.action = action


class Conflict(PayLedgerError):
    """A concurrent write won every retry, or an idempotency key was reused."""


class Unavailable(PayLedgerError):
    """The store (or another port) cannot be reached."""
