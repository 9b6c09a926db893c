"""The principals tests act as: the platform's roles and an account's profiles, for
`acct-1` unless a test says otherwise."""

from __future__ import annotations

from payledger.domain.commands import Command
from payledger.domain.permissions import PLATFORM_ROLES, Actor, Kind

ACCOUNT = "acct-1"
CHECKOUT = Actor.platform("checkout", id="checkout", account=ACCOUNT)
GATEWAY = Actor.platform("gateway", id="gateway", account=ACCOUNT)
OPERATOR = Actor.platform("operator", id="ops-1", account=ACCOUNT)
SCHEDULER = Actor.platform("scheduler", id="payledger-tick", account=ACCOUNT)


def partner(account: str) -> Actor:
    """A partner's own owner (a coproducer's, an affiliate's): a principal of its account."""
    return Actor.preset("owner", id=f"owner@{account}", account=account)


def platform_for(command: Command | type[Command], account: str = ACCOUNT) -> Actor:
    """The platform principal whose role runs `command` (the checkout where several do)."""
    needed = command.allowed[Kind.PLATFORM]
    role = next(role for role in ("checkout", "gateway", "operator", "scheduler")
                if needed in PLATFORM_ROLES[role])
    return Actor.platform(role, id=role, account=account)
