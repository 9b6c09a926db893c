"""Handlers of the account commands: registration, document, collaborators."""

from __future__ import annotations

from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.account import Account
from payledger.domain.errors import NotFound, ValidationError
from payledger.handlers.lookup import find
from payledger.settings import Settings
from payledger.wiring import AggregateWiring
from payledger.work import Work


def register_account(work: Work, cmd: c.RegisterAccount, settings: Settings) -> UUID:
    if find(work, Account, Account.create_id(cmd.account)) is not None:
        raise ValidationError("account", f"account {cmd.account} is already registered")
    return work.add(Account.register(cmd.account, cmd.owner_user, cmd.document, cmd.kind,
                                     cmd.timezone or settings.timezone)).id


def account_timezone(work: Work, settings: Settings) -> str:
    """The business calendar of the account a command acts for: its own, set when it
    was registered; the installation's (`Settings.timezone`) for one never registered."""
    found = find(work, Account, Account.create_id(work.account))
    return found.timezone if found is not None else settings.timezone


def load_account(work: Work) -> Account:
    found = find(work, Account, Account.create_id(work.account))
    if found is None:
        raise NotFound(Account.KIND, work.account)
    return found


def _document(work: Work, cmd: c.ChangeAccountDocument, _: Settings) -> UUID:
    account = load_account(work)
    account.change_document(cmd.document)
    return account.id


def _add(work: Work, cmd: c.AddCollaborator, _: Settings) -> UUID:
    account = load_account(work)
    account.add_collaborator(cmd.email, cmd.cpf, *cmd.resolved)
    return account.id


def _change(work: Work, cmd: c.ChangeCollaborator, _: Settings) -> UUID:
    account = load_account(work)
    account.change_collaborator(cmd.email, *cmd.resolved)
    return account.id


def _remove(work: Work, cmd: c.RemoveCollaborator, _: Settings) -> UUID:
    account = load_account(work)
    account.remove_collaborator(cmd.email)
    return account.id


ACCOUNTS = AggregateWiring(
    kind=Account,
    app="ledger",
    handlers={
        c.RegisterAccount: register_account,
        c.ChangeAccountDocument: _document,
        c.AddCollaborator: _add,
        c.ChangeCollaborator: _change,
        c.RemoveCollaborator: _remove,
    },
)
