"""Accounts registered by an operator, and collaborators as data: the owner of a company
account adds, changes and removes them, and every command of a registered account
re-resolves its principal, so a removed collaborator is refused at once."""

from __future__ import annotations

from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.account import Account
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from payledger.domain.permissions import Actor, Permission
from payledger.ledger import Ledger
from tests import factories as f
from tests.integration.test_commands import refused_without_writing

ACCOUNT = "acct-1"
OWNER = "ana@acct-1.example"
CNPJ, CPF = "11222333000181", "11144477735"
ONBOARDING = Actor.platform("operator", id="ops-1", account="platform")
CHECKOUT = Actor.platform("checkout", id="checkout", account=ACCOUNT)
GATEWAY = Actor.platform("gateway", id="gateway", account=ACCOUNT)


def register(ledger: Ledger, kind: str = "company", document: str = CNPJ) -> UUID:
    return ledger.execute(ONBOARDING, c.RegisterAccount(
        account=ACCOUNT, owner_user=OWNER, document=document, kind=kind)).aggregate_id


def paid_invoice(ledger: Ledger) -> UUID:
    invoice_id = ledger.execute(CHECKOUT, f.create_invoice()).aggregate_id
    ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A1"))
    return invoice_id


def test_an_operator_registers_an_account_with_its_document(ledger):
    account_id = register(ledger)
    found = ledger.load(Account, account_id)
    assert (found.name, found.owner_user, found.document, found.kind) == (
        ACCOUNT, OWNER, CNPJ, "company")
    assert ledger.actor(ACCOUNT, "ANA@acct-1.example ").permissions == Actor.preset(
        "owner", id=OWNER, account=ACCOUNT).permissions  # a user is its lower-cased email
    refused_without_writing(ledger, ValidationError, lambda: register(ledger))  # once


@pytest.mark.parametrize(("kind", "document", "field"), [
    ("person", CNPJ, "kind"), ("company", CPF, "kind"), ("person", "11144477736", "document"),
])
def test_a_document_must_be_valid_and_of_the_accounts_kind(sqlite_ledger, kind, document, field):
    with pytest.raises(ValidationError) as caught:
        register(sqlite_ledger, kind, document)
    assert caught.value.field == field


def test_only_an_operator_registers_or_changes_a_document(sqlite_ledger, owner):
    for command in (c.RegisterAccount(account=ACCOUNT, owner_user=OWNER, document=CPF,
                                      kind="person"),
                    c.ChangeAccountDocument(account=ACCOUNT, document=CPF)):
        error = refused_without_writing(sqlite_ledger, Forbidden,
                                        lambda cmd=command: sqlite_ledger.execute(owner, cmd))
        assert "platform principals only" in str(error)


def test_collaborators_are_added_changed_and_removed_by_the_owner(ledger):
    register(ledger)
    owner = ledger.actor(ACCOUNT, OWNER)
    ledger.execute(owner, c.AddCollaborator(email="Bia@acct-1.example", cpf=CPF,
                                            profile="support"))
    support = ledger.actor(ACCOUNT, "bia@acct-1.example")
    assert (support.role, support.permissions) == ("support", Actor.preset(
        "support", id="x", account=ACCOUNT).permissions)
    invoice_id = paid_invoice(ledger)
    ledger.execute(support, f.request_refund(invoice_id, 1_000))
    ledger.execute(owner, c.ChangeCollaborator(
        email="bia@acct-1.example", permissions=frozenset({Permission.SEARCH_PURCHASES})))
    error = refused_without_writing(ledger, Forbidden, lambda: ledger.execute(
        support, f.request_refund(invoice_id, 1_000)))  # the actor built before: re-resolved
    assert "request_refunds" in str(error)
    ledger.execute(owner, c.RemoveCollaborator(email="bia@acct-1.example"))
    error = refused_without_writing(ledger, Forbidden, lambda: ledger.execute(
        support, f.request_refund(invoice_id, 1_000)))
    assert "neither the owner nor a collaborator" in str(error)
    with pytest.raises(Forbidden):
        ledger.actor(ACCOUNT, "bia@acct-1.example")
    with pytest.raises(Forbidden):  # reads re-resolve too
        ledger.get(support, Account, Account.create_id(ACCOUNT))
    topics = [type(e).__name__ for e in ledger.events.get(Account.create_id(ACCOUNT))]
    assert topics == ["Registered", "CollaboratorAdded", "CollaboratorChanged",
                      "CollaboratorRemoved"]


def test_a_stranger_with_a_preset_is_refused_by_a_registered_account(sqlite_ledger):
    register(sqlite_ledger)
    invoice_id = paid_invoice(sqlite_ledger)
    stranger = Actor.preset("owner", id="mallory@example.com", account=ACCOUNT)
    refused_without_writing(sqlite_ledger, Forbidden, lambda: sqlite_ledger.execute(
        stranger, f.request_refund(invoice_id)))
    with pytest.raises(NotFound):
        sqlite_ledger.actor("acct-9", OWNER)  # never registered


def test_a_person_account_has_no_collaborators(sqlite_ledger):
    register(sqlite_ledger, "person", CPF)
    owner = sqlite_ledger.actor(ACCOUNT, OWNER)
    error = refused_without_writing(sqlite_ledger, InvalidTransition, lambda: (
        sqlite_ledger.execute(owner, c.AddCollaborator(email="bia@acct-1.example", cpf=CPF,
                                                       profile="support"))))
    assert "company account" in str(error)


@pytest.mark.parametrize(("fields", "field"), [
    ({"profile": "owner"}, "profile"),
    ({"profile": "checkout"}, "profile"),
    ({}, "profile"),
    ({"profile": "support", "permissions": frozenset({Permission.SEARCH_PURCHASES})}, "profile"),
    ({"permissions": frozenset({Permission.CHANGE_BANK_ACCOUNT})}, "permissions"),
    ({"permissions": frozenset({Permission.MANAGE_COLLABORATORS})}, "permissions"),
    ({"permissions": frozenset({Permission.ADJUST_BALANCES})}, "permissions"),
    ({"permissions": frozenset()}, "permissions"),
])
def test_a_profile_is_a_preset_or_account_permissions_no_collaborator_is_denied(fields, field):
    with pytest.raises(ValidationError) as caught:
        c.AddCollaborator(email="bia@acct-1.example", cpf=CPF, **fields)
    assert caught.value.field == field


def test_only_the_owner_manages_collaborators(sqlite_ledger):
    register(sqlite_ledger)
    owner = sqlite_ledger.actor(ACCOUNT, OWNER)
    sqlite_ledger.execute(owner, c.AddCollaborator(email="caio@acct-1.example", cpf=CPF,
                                                   profile="financial"))
    financial = sqlite_ledger.actor(ACCOUNT, "caio@acct-1.example")
    error = refused_without_writing(sqlite_ledger, Forbidden, lambda: sqlite_ledger.execute(
        financial, c.AddCollaborator(email="eve@acct-1.example", cpf=CPF, profile="support")))
    assert "manage_collaborators" in str(error)
    assert Permission.ADJUST_BALANCES not in financial.permissions
