"""Who may run what: the declarations, the gate that enforces them, and the generated
docs/permissions.md, which cannot drift from either."""

from __future__ import annotations

from pathlib import Path

import pytest

from payledger.commanding import CommandApplication
from payledger.domain.commands import Command, RequestRefund
from payledger.domain.errors import Forbidden, PayLedgerError, ValidationError
from payledger.domain.permissions import (
    ACCOUNT_PERMISSIONS,
    PLATFORM_PERMISSIONS,
    Actor,
    Kind,
    Permission,
)
from payledger.permission_docs import allows, commands, guarded, principals, render

DOC = Path(__file__).parents[2] / "docs" / "permissions.md"
SAMPLE = {"coproducer": "acct", "affiliate": "acct", "producer_account": "producer-1",
          "consent_reference": "ticket-1"}
"""What the gate reads of a partner's answer: the partner is the principal's account."""
PAIRS = [(actor, command) for command in commands() for actor in principals()]


def test_the_permissions_doc_is_generated_from_the_declarations() -> None:
    assert DOC.read_text() == render(), (
        "docs/permissions.md is stale: python -m payledger.permission_docs > docs/permissions.md")


@pytest.mark.parametrize(("actor", "command"), PAIRS,
                         ids=[f"{c.__name__}-{a.kind.value}-{a.role}" for a, c in PAIRS])
def test_every_command_against_every_principal(actor: Actor, command: type[Command]) -> None:
    """The gate (`CommandApplication.authorize`) refuses exactly what the table does not
    show: a wrong kind or a missing permission is Forbidden; what it allows passes the
    gate (what the command then touches is checked as it runs)."""
    sample = command.model_construct(**SAMPLE)
    if allows(actor, command):
        try:
            CommandApplication.authorize(actor, sample)
        except Forbidden as error:  # pragma: no cover - the failure message
            pytest.fail(f"{actor.role} refused {command.__name__}: {error}")
        except PayLedgerError:
            pass  # passed the gate; refused for its (sample) content
    else:
        with pytest.raises(Forbidden):
            CommandApplication.authorize(actor, sample)


def test_every_command_declares_its_principals_itself() -> None:
    for command in commands():
        assert "allowed" in vars(command), f"{command.__name__} inherits its principals"
        assert command.allowed, command.__name__


def test_no_account_principal_runs_a_platform_permission_and_the_owner_runs_the_rest() -> None:
    owner = Actor.preset("owner", id="o", account="acct")
    for command in commands():
        needed = command.allowed.get(Kind.ACCOUNT)
        assert needed is None or needed in ACCOUNT_PERMISSIONS, command.__name__
        assert allows(owner, command) == (needed is not None), command.__name__


def test_timed_steps_are_the_schedulers_alone() -> None:
    timed = [c for c in commands() if Permission.RUN_TIMED_STEPS in c.allowed.values()]
    assert {c.__name__ for c in timed} >= {"ReleaseFunds", "RecomputeReserve", "ExpireInvoice",
                                          "MarkInstallmentOverdue", "RenewSubscription"}
    for command in timed:
        assert [a.role for a in principals() if allows(a, command)] == ["scheduler"]


def test_every_permission_guards_a_command_a_read_or_a_host_check() -> None:
    for permission in Permission:
        assert guarded(permission), f"{permission.value} guards nothing"


def test_only_a_platform_principal_passes_a_conversations_ids() -> None:
    support = Actor.preset("support", id="s", account="acct")
    checkout = Actor.platform("checkout", id="c", account="acct")
    for field in ("correlation_id", "causation_id"):
        sample = RequestRefund.model_construct(**{field: "a-uuid"})
        with pytest.raises(Forbidden, match=field):
            CommandApplication.authorize(support, sample)
        CommandApplication.authorize(checkout, sample)


def test_kinds_never_mix() -> None:
    with pytest.raises(ValidationError) as held:
        Actor(id="x", account="acct", permissions=frozenset({Permission.ADJUST_BALANCES}))
    assert held.value.field == "permissions"
    with pytest.raises(ValidationError) as reserved:
        Actor.preset("owner", id="x", account="platform")
    assert reserved.value.field == "account"
    with pytest.raises(ValidationError) as unknown:
        Actor.platform("bank", id="x", account="acct")
    assert unknown.value.field == "role"
    with pytest.raises(ValidationError, match=r"Actor\.platform") as moved:
        Actor.preset("checkout", id="x", account="acct")
    assert moved.value.field == "preset"
    assert ACCOUNT_PERMISSIONS.isdisjoint(PLATFORM_PERMISSIONS)
    assert Actor.preset("owner", id="x", account="acct").permissions == ACCOUNT_PERMISSIONS
    assert Permission.ADJUST_BALANCES not in Actor.preset("financial", id="x",
                                                          account="acct").permissions
