"""Dead letters: no command of their own; a follower (`payledger.dead_letters`) writes
them in the store it writes, in either application."""

from __future__ import annotations

from payledger.domain.dead_letter import DeadLetter
from payledger.wiring import AggregateWiring

DEAD_LETTERS = AggregateWiring(kind=DeadLetter, app="every")
