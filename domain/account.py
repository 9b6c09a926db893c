"""Account: a producer's, coproducer's or affiliate's registration, its legal document,
and its collaborators (the seeds' Central de Colaboradores).

Sales need no registration; a bank account or a withdrawal does. An operator registers
an account at onboarding with its legal document (CPF for a person, CNPJ for a
company), which anchors every bank account of its wallets: a bank account must carry
it, and after an operator changes it the one on file is unusable until one with the
new document is added.

The owner of a company account adds collaborators by email (the user, lower-cased) and
CPF with a profile: a preset (support, technical, financial, affiliate manager) or a
custom set of account permissions, never one of `OWNER_ONLY`. For a registered account
every command re-resolves its principal from here, so a removed collaborator is
refused at once, even through an actor built before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.customer import document_kind
from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import ValidationError
from payledger.domain.permissions import (
    ACCOUNT_PERMISSIONS,
    OWNER_ONLY,
    PRESETS,
    Actor,
    Permission,
)
from payledger.domain.time import DEFAULT_TIMEZONE, timezone_name

NAMESPACE = UUID("7a3c1d52-9e0b-4f6a-8c21-3b5d9e7f1a64")
OWNER = "owner"
CUSTOM = "custom"


class AccountKind(StrEnum):
    PERSON = "person"  # a CPF
    COMPANY = "company"  # a CNPJ


class Collaborator(TypedDict):
    cpf: str
    profile: str  # a preset's name, or "custom"
    permissions: list[str]


def profile_permissions(
    profile: str | None, permissions: frozenset[Permission] | None,
) -> tuple[str, frozenset[Permission]]:
    """A collaborator's profile: a preset other than the owner's, or a custom set of
    account permissions that no profile may hold (`OWNER_ONLY`) stays out of."""
    if (profile is None) == (permissions is None):
        raise ValidationError("profile", "name a preset profile or a custom set of permissions")
    if profile is not None:
        if profile == OWNER or profile not in PRESETS:
            known = ", ".join(sorted(set(PRESETS) - {OWNER}))
            raise ValidationError("profile", f"unknown collaborator profile {profile!r} ({known})")
        return profile, PRESETS[profile]
    assert permissions is not None
    outside = sorted(p.value for p in permissions - (ACCOUNT_PERMISSIONS - OWNER_ONLY))
    if outside:
        raise ValidationError("permissions", f"no collaborator holds {', '.join(outside)}")
    if not permissions:
        raise ValidationError("permissions", "a custom profile holds at least one permission")
    return CUSTOM, permissions


class Account(LedgerAggregate):
    TOPIC = "payledger:Account"
    KIND = "Account"
    READ = Permission.MANAGE_COLLABORATORS
    timezone = DEFAULT_TIMEZONE  # older snapshots

    @staticmethod
    def create_id(account: str) -> UUID:
        return uuid5(NAMESPACE, account)

    class Registered(LedgerCreated):
        TOPIC = "payledger:Account.Registered"
        name: str
        owner_user: str
        document: str
        kind: str
        timezone: str = DEFAULT_TIMEZONE  # its business calendar (older events: the default)

    @event(Registered)
    def __init__(self, id: UUID, name: str, owner_user: str, document: str, kind: str,
                 timezone: str = DEFAULT_TIMEZONE) -> None:
        self.name = name
        self.timezone = timezone
        self.owner_user = owner_user
        self.document = document
        self.kind = AccountKind(kind)
        self.collaborators: dict[str, Collaborator] = {}  # by user (lower-cased email)

    @classmethod
    def register(cls, name: str, owner_user: str, document: str, kind: str,
                 timezone: str = DEFAULT_TIMEZONE) -> Account:
        """`timezone`: the account's business calendar (its subscriptions renew and its
        plans fall due by it); those sold keep the one they were sold in."""
        check_kind(document, kind)
        return cls(id=cls.create_id(name), name=name, owner_user=owner_user,
                   document=document, kind=kind, timezone=timezone_name(timezone))

    # -- reading -------------------------------------------------------------------

    def principal(self, user: str) -> Actor | None:
        """The user's principal in this account: the owner's profile for the registered
        owner, a collaborator's own; None for anyone else."""
        if user == self.owner_user:
            return Actor.preset(OWNER, id=user, account=self.name)
        found = self.collaborators.get(user)
        if found is None:
            return None
        return Actor(id=user, account=self.name, role=found["profile"],
                     permissions=frozenset(Permission(p) for p in found["permissions"]))

    # -- the document --------------------------------------------------------------

    def change_document(self, document: str) -> None:
        check_kind(document, self.kind)
        if document == self.document:
            raise self.refuse("change the document", "it is already the account's document")
        self._document_changed(document=document, previous=self.document)

    class DocumentChanged(LedgerEvent):
        TOPIC = "payledger:Account.DocumentChanged"
        document: str
        previous: str

    @event(DocumentChanged)
    def _document_changed(self, document: str, previous: str) -> None:
        self.document = document

    # -- collaborators ---------------------------------------------------------------

    def add_collaborator(self, user: str, cpf: str, profile: str,
                         permissions: frozenset[Permission]) -> None:
        command = "add a collaborator"
        if self.kind != AccountKind.COMPANY:
            raise self.refuse(command, "only a company account (CNPJ) has collaborators")
        if user == self.owner_user or user in self.collaborators:
            raise self.refuse(command, f"{user} is already in the account")
        self._collaborator_added(user=user, cpf=cpf, profile=profile,
                                 permissions=sorted(p.value for p in permissions))

    class CollaboratorAdded(LedgerEvent):
        TOPIC = "payledger:Account.CollaboratorAdded"
        user: str
        cpf: str
        profile: str
        permissions: list[str]

    @event(CollaboratorAdded)
    def _collaborator_added(self, user: str, cpf: str, profile: str,
                            permissions: list[str]) -> None:
        self.collaborators[user] = {"cpf": cpf, "profile": profile, "permissions": permissions}

    def change_collaborator(self, user: str, profile: str,
                            permissions: frozenset[Permission]) -> None:
        found = self._collaborator(user, "change a collaborator")
        listed = sorted(p.value for p in permissions)
        if (found["profile"], found["permissions"]) == (profile, listed):
            raise self.refuse("change a collaborator", f"{user} already has that profile")
        self._collaborator_changed(user=user, profile=profile, permissions=listed)

    class CollaboratorChanged(LedgerEvent):
        TOPIC = "payledger:Account.CollaboratorChanged"
        user: str
        profile: str
        permissions: list[str]

    @event(CollaboratorChanged)
    def _collaborator_changed(self, user: str, profile: str, permissions: list[str]) -> None:
        self.collaborators[user] = {**self.collaborators[user], "profile": profile,
                                    "permissions": permissions}

    def remove_collaborator(self, user: str) -> None:
        self._collaborator(user, "remove a collaborator")
        self._collaborator_removed(user=user)

    class CollaboratorRemoved(LedgerEvent):
        TOPIC = "payledger:Account.CollaboratorRemoved"
        user: str

    @event(CollaboratorRemoved)
    def _collaborator_removed(self, user: str) -> None:
        del self.collaborators[user]

    def _collaborator(self, user: str, command: str) -> Collaborator:
        found = self.collaborators.get(user)
        if found is None:
            raise self.refuse(command, f"{user} is not a collaborator")
        return found

    @property
    def state_name(self) -> str:
        return "registered"


def check_kind(document: str, kind: str) -> None:
    """A person's document is a CPF, a company's a CNPJ (check digits verified)."""
    expected = "cpf" if kind == AccountKind.PERSON else "cnpj"
    if document_kind(document) != expected:
        raise ValidationError("kind", f"a {kind} account's document is a {expected.upper()}")
