"""payledger: the event-sourced billing core of a creator-economy platform."""

from payledger.domain import commands
from payledger.domain.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PayLedgerError,
    Unavailable,
    ValidationError,
)
from payledger.domain.permissions import Actor, Permission
from payledger.domain.time import SimulatedClock, SystemClock
from payledger.ledger import Ledger, Receipt
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement

__all__ = [
    "Actor", "Conflict", "Forbidden", "InvalidTransition", "Ledger", "NotFound",
    "PayLedgerError", "Permission", "Receipt", "Settings", "Settlement", "SimulatedClock",
    "SystemClock", "Unavailable", "ValidationError", "commands", "open_settlement",
]
