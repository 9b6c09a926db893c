"""Handlers of the balance commands, run by the Settlement (whose store holds balances).

Their wiring names the Settlement (`app="settlement"`), so the Ledger refuses them: a
balance is changed by the settlement policy and by these commands only, never beside an
invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound
from payledger.domain.permissions import PLATFORM_PARTY
from payledger.handlers.steps import of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

BalanceStep = Callable[[Balance, Any, Settings], None]


def reserve_interval(settings: Settings) -> timedelta:
    return timedelta(days=settings.reserve_interval_days)


def change_bank_account(work: Work, cmd: c.ChangeBankAccount, settings: Settings) -> UUID:
    """The actor's own wallet's, or (an operator's) the platform's of a selling account."""
    party = PLATFORM_PARTY if work.actor.is_platform else work.account
    selling_account = cmd.selling_account if work.actor.is_platform else None
    document = (None if party == PLATFORM_PARTY
                else registered_document(work, party, "change the bank account"))
    try:
        balance = own_balance(work, Balance.create_id(party, cmd.currency, selling_account))
    except NotFound:  # a party may name its bank account before its first sale
        balance = work.add(Balance.open(party, cmd.currency, selling_account=selling_account,
                                        reserve_interval=reserve_interval(settings)))
    balance.change_bank_account(cmd.bank_account.model_dump(mode="json"), document)
    return balance.id


def registered_document(work: Work, account: str, command: str) -> str:
    """The legal document of a registered account, which anchors its bank accounts."""
    registered = work.ledger.registered_account(account)
    if registered is None:
        raise InvalidTransition("Account", "unregistered", command,
                                f"an operator registers {account!r} with its document first")
    return registered.document


def own_balance(work: Work, balance_id: UUID) -> Balance:
    """A balance its party moves: an account's own wallet (the account check of
    `work.get`), or the platform's, which only operators move: a platform principal
    acting for a party's account never moves that party's money."""
    balance = work.get(Balance, balance_id)
    if work.actor.is_platform and not balance.platform:
        raise Forbidden(work.actor.id, work.action,
                        f"moves the platform's balances only, not {balance.party!r}'s")
    return balance


def request_withdrawal(work: Work, cmd: c.RequestWithdrawal, _: Settings) -> UUID:
    balance = own_balance(work, cmd.balance_id)
    destination = cmd.bank_account.model_dump(mode="json") if cmd.bank_account else None
    document = None if balance.platform else registered_document(
        work, balance.party, "request a withdrawal")
    balance.request_withdrawal(cmd.withdrawal_id or uuid4(), cmd.amount, destination, document)
    return balance.id


def on_balance(step: BalanceStep) -> Handler:
    """A handler running `step` on the command's balance (a command of the settlement)."""
    return of(step)(on_one(lambda work, cmd: work.get(Balance, cmd.balance_id))(
        lambda _, balance, cmd, settings: step(balance, cmd, settings)))


@on_balance
def _sent(balance: Balance, cmd: c.SendWithdrawal, _: Settings) -> None:
    balance.send_withdrawal(cmd.withdrawal_id, cmd.reference)


@on_balance
def _paid(balance: Balance, cmd: c.PayWithdrawal, _: Settings) -> None:
    balance.pay_withdrawal(cmd.withdrawal_id, cmd.reference)


@on_balance
def _failed(balance: Balance, cmd: c.FailWithdrawal, _: Settings) -> None:
    balance.fail_withdrawal(cmd.withdrawal_id, cmd.reason)


def _canceled(work: Work, cmd: c.CancelWithdrawal, _: Settings) -> UUID:
    balance = own_balance(work, cmd.balance_id)
    balance.cancel_withdrawal(cmd.withdrawal_id, cmd.reason)
    return balance.id


@on_balance
def _adjust(balance: Balance, cmd: c.AdjustBalance, _: Settings) -> None:
    balance.adjust(cmd.amount, cmd.reason)


@on_balance
def _release(balance: Balance, _cmd: c.ReleaseFunds, _: Settings) -> None:
    balance.release(balance.now)


@on_balance
def _reserve(balance: Balance, _cmd: c.RecomputeReserve, settings: Settings) -> None:
    balance.recompute_reserve(balance.now, settings.reserve_bps, settings.reserve_window_days,
                              reserve_interval(settings), settings.timezone)


BALANCES = AggregateWiring(
    kind=Balance,
    app="settlement",
    handlers={
        c.ChangeBankAccount: change_bank_account,
        c.RequestWithdrawal: request_withdrawal,
        c.SendWithdrawal: _sent,
        c.PayWithdrawal: _paid,
        c.FailWithdrawal: _failed,
        c.CancelWithdrawal: _canceled,
        c.AdjustBalance: _adjust,
        c.ReleaseFunds: _release,
        c.RecomputeReserve: _reserve,
    },
    timed_steps={
        "release": lambda i, at: c.ReleaseFunds(balance_id=i, at=at),
        "recompute_reserve": lambda i, at: c.RecomputeReserve(balance_id=i, at=at),
    },
)
