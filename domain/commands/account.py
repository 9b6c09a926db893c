"""Commands on an account: its registration and document (a platform operator's, at
onboarding), and its collaborators (the owner's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints, model_validator

from payledger.domain.account import profile_permissions
from payledger.domain.commands.base import Command, Timezone, _in_field
from payledger.domain.commands.buyer import Document, Email
from payledger.domain.customer import is_valid_cpf
from payledger.domain.errors import ValidationError
from payledger.domain.permissions import Actor, P, Permission, account_only, platform_only

AccountName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=200)]


def _cpf(value: str) -> str:
    if not is_valid_cpf(value):
        raise ValidationError("cpf", "is not a valid CPF")
    return "".join(char for char in value if char.isdigit())


Cpf = Annotated[str, AfterValidator(_in_field(_cpf))]


class RegisterAccount(Command):
    """Onboarding: the account's legal document (CPF for a person, CNPJ for a company),
    which anchors its bank accounts, and its owner (a user: a lower-cased email)."""

    allowed = platform_only(P.REGISTER_ACCOUNTS)
    account: AccountName
    owner_user: Email
    document: Document
    kind: Literal["person", "company"]
    timezone: Timezone | None = None  # its business calendar; default: the installation's

    def acting_account(self, actor: Actor) -> str:
        return self.account


class ChangeAccountDocument(Command):
    """An operator's change of the legal document: the bank account on file becomes
    unusable until one with the new document is added."""

    allowed = platform_only(P.REGISTER_ACCOUNTS)
    account: AccountName
    document: Document

    def acting_account(self, actor: Actor) -> str:
        return self.account


class CollaboratorProfile(Command):
    """A preset `profile` (support, technical, financial, affiliate_manager), or a custom
    set of account `permissions`."""

    email: Email
    profile: str | None = None
    permissions: frozenset[Permission] | None = None

    @model_validator(mode="after")
    def _one_profile(self) -> CollaboratorProfile:
        profile_permissions(self.profile, self.permissions)
        return self

    @property
    def resolved(self) -> tuple[str, frozenset[Permission]]:
        return profile_permissions(self.profile, self.permissions)


class AddCollaborator(CollaboratorProfile):
    allowed = account_only(P.MANAGE_COLLABORATORS)
    cpf: Cpf


class ChangeCollaborator(CollaboratorProfile):
    allowed = account_only(P.MANAGE_COLLABORATORS)


class RemoveCollaborator(Command):
    allowed = account_only(P.MANAGE_COLLABORATORS)
    email: Email
