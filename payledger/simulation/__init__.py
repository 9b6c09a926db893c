"""A producer's shop over N days on a simulated clock, with the simulator as the gateway.

Library code, not CLI code: the demo, the benchmarks and the tests make their events
with it. Everything random comes from one `random.Random(seed)`, aggregate ids
included (the fiscal documents' dice are seeded by those ids), so a seed always tells
the same story.
"""

from payledger.simulation.base import START, Mix, Report
from payledger.simulation.documents import Documents
from payledger.simulation.summary import adjustments, balances, money, states


class Simulation(Documents):
    """The whole story: the catalogue, one-off sales, installments, subscriptions, the
    balances they feed (when a settlement is given) and the fiscal documents of both."""


__all__ = ["START", "Mix", "Report", "Simulation", "adjustments", "balances", "money", "states"]
