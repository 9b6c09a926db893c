"""The composition root: what each application runs is derived from one list of wirings."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from datetime import UTC, datetime

import pytest

from payledger import bootstrap
from payledger import domain as domain_package
from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.envelope import LedgerAggregate
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.installments import InstallmentPlan
from payledger.domain.invoice import Invoice
from payledger.domain.refund import Refund
from payledger.domain.subscription import Subscription
from payledger.handlers.invoice import INVOICES
from payledger.wiring import AggregateWiring

INVOICE_AT = datetime(2025, 1, 1, tzinfo=UTC)


def domain_aggregates() -> set[type[LedgerAggregate]]:
    found = set()
    for info in pkgutil.walk_packages(domain_package.__path__, "payledger.domain."):
        module = importlib.import_module(info.name)
        found.update(value for value in vars(module).values()
                     if inspect.isclass(value) and issubclass(value, LedgerAggregate)
                     and value is not LedgerAggregate and value.__module__ == info.name)
    return found


def concrete_commands() -> set[type[c.Command]]:
    commands = {v for v in vars(c).values() if inspect.isclass(v) and issubclass(v, c.Command)}
    return {k for k in commands if not any(o is not k and issubclass(o, k) for o in commands)}


def test_every_aggregate_of_the_domain_is_wired_once():
    listed = bootstrap.aggregates()
    assert len(listed) == len(set(listed))
    assert set(listed) == domain_aggregates()


def test_every_command_runs_in_exactly_one_application():
    ledger, settlement = bootstrap.handlers("ledger"), bootstrap.handlers("settlement")
    assert not set(ledger) & set(settlement)
    assert set(ledger) | set(settlement) == concrete_commands()
    assert c.RequestWithdrawal in settlement  # balances live in the Settlement's store
    assert c.CreateInvoice in ledger


def test_each_scheduler_follows_the_timed_aggregates_of_its_own_store():
    topics = {app: set(bootstrap.timed_steps(app)) for app in ("ledger", "settlement")}
    assert topics == {
        "ledger": {Invoice.TOPIC, Subscription.TOPIC, InstallmentPlan.TOPIC, Refund.TOPIC},
        "settlement": {Balance.TOPIC},
    }
    step = bootstrap.timed_steps("ledger")[Invoice.TOPIC]["expire"]
    assert isinstance(step(Invoice.create_id(), INVOICE_AT), c.ExpireInvoice)


def test_outcome_hooks_are_found_by_invoice_origin():
    assert set(bootstrap.outcome_hooks("ledger")) == {"installment", "subscription"}
    assert bootstrap.outcome_hooks("settlement") == {}


def test_an_aggregate_for_every_application_is_in_both():
    assert IdempotencyRecord in {w.kind for w in bootstrap.WIRINGS if w.app == "every"}
    other = AggregateWiring(kind=IdempotencyRecord, app="every",
                            handlers={c.CreateCoupon: INVOICES.handlers[c.CreateInvoice]})
    for app in ("ledger", "settlement"):
        assert c.CreateCoupon in bootstrap.handlers(app, (other,))


def test_a_command_wired_twice_is_refused():
    twice = AggregateWiring(kind=Balance, app="ledger",
                            handlers={c.CreateInvoice: INVOICES.handlers[c.CreateInvoice]})
    message = "command CreateInvoice is wired by both Invoice and Balance"
    with pytest.raises(ValueError, match=message):
        bootstrap.application_wiring("ledger", (*bootstrap.WIRINGS, twice))


def test_what_an_application_runs_cannot_be_changed_after_it_is_derived():
    wiring = bootstrap.application_wiring("ledger")
    with pytest.raises(TypeError):
        wiring.handlers[c.RequestWithdrawal] = wiring.handlers[c.CreateInvoice]  # type: ignore[index]
    with pytest.raises(TypeError):
        INVOICES.handlers[c.RequestWithdrawal] = INVOICES.handlers[c.CreateInvoice]  # type: ignore[index]
    assert c.RequestWithdrawal not in bootstrap.handlers("ledger")



@pytest.mark.parametrize("wiring", bootstrap.WIRINGS, ids=lambda w: w.kind.__name__)
def test_each_handler_is_written_for_the_command_it_is_wired_to(wiring):
    """The command class a handler (or the step it was made of) is annotated with."""
    for command, handler in wiring.handlers.items():
        function = inspect.unwrap(handler)
        hints = typing.get_type_hints(function)
        taken = [t for t in hints.values() if inspect.isclass(t) and issubclass(t, c.Command)]
        assert taken == [command], f"{function.__qualname__} is wired to {command.__name__}"
