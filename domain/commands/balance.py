"""Commands on a balance: bank account, withdrawals, adjustments, and its time steps.

They run on the Settlement application (payledger.settlement), whose store holds the
balances; the Ledger refuses them. A balance is named by its id,
`Balance.create_id(party, currency)` (a party is an account: its wallet), except in
`ChangeBankAccount`, which may be the first thing a party does and so names only the
currency: the wallet is the actor's own.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from payledger.domain.commands.base import Cents, Command, Currency, Text, _in_field
from payledger.domain.customer import normalize_document
from payledger.domain.errors import Forbidden, ValidationError
from payledger.domain.permissions import Actor, P, either, platform_only
from payledger.domain.splits import Party

Document = Annotated[str, AfterValidator(_in_field(normalize_document))]


def _nonzero(amount: int) -> int:
    if amount == 0:
        raise ValidationError("amount", "an adjustment is not zero")
    return amount



class BankAccount(BaseModel):
    """A Brazilian bank account (COMPE bank code, branch, account with its digit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bank: Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
    branch: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}(-[0-9Xx])?$")]
    number: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}-[0-9Xx]$")]
    kind: Literal["checking", "savings", "payment"] = "checking"
    holder_name: Text
    holder_document: Document


class ChangeBankAccount(Command):
    """Set or change the bank account the withdrawals of the actor's own wallet go to
    (an operator's: of the platform's balance of `selling_account`). The first one
    names the party's document; later ones must have a holder with that same document."""

    allowed = either(P.CHANGE_BANK_ACCOUNT, P.MANAGE_PLATFORM_BALANCES)

    currency: Currency
    bank_account: BankAccount
    selling_account: Party | None = None

    def authorize(self, actor: Actor) -> None:
        super().authorize(actor)
        if actor.is_platform and self.selling_account is None:
            raise ValidationError("selling_account", "an operator names the selling account "
                                                     "of the platform's balance")
        if not actor.is_platform and self.selling_account is not None:
            raise Forbidden(actor.id, "ChangeBankAccount",
                            "selling_account names a platform balance: operators only")


class BalanceCommand(Command):
    balance_id: UUID


class RequestWithdrawal(BalanceCommand):
    allowed = either(P.WITHDRAW, P.MANAGE_PLATFORM_BALANCES)

    withdrawal_id: UUID | None = None
    amount: Cents
    bank_account: BankAccount | None = Field(
        default=None, description="None: the account on file (the only one allowed)")


class WithdrawalCommand(BalanceCommand):
    withdrawal_id: UUID


class SendWithdrawal(WithdrawalCommand):
    """The host took the withdrawal for transfer: it can no longer be canceled."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reference: Text


class PayWithdrawal(WithdrawalCommand):
    """The host reports the transfer done."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reference: Text


class FailWithdrawal(WithdrawalCommand):
    """The host reports the transfer refused; the money returns to available."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text


class CancelWithdrawal(WithdrawalCommand):
    allowed = either(P.WITHDRAW, P.MANAGE_PLATFORM_BALANCES)
    reason: Text


class AdjustBalance(BalanceCommand):
    """A manual correction of what is available, positive or negative, with a reason."""

    allowed = platform_only(P.ADJUST_BALANCES)
    amount: Annotated[int, Field(ge=-(10**12), le=10**12, strict=True),
                      AfterValidator(_in_field(_nonzero))]
    reason: Text


class ReleaseFunds(BalanceCommand):
    """Time-driven: receivables due by the command's instant become available."""

    allowed = platform_only(P.RUN_TIMED_STEPS)


class RecomputeReserve(BalanceCommand):
    """Time-driven (weekly): the reserve level from the last days' credits."""

    allowed = platform_only(P.RUN_TIMED_STEPS)
