"""Commands on a withdrawal's proof: asked by the party that withdrew, reported by the
gateway. They run on the Settlement, beside the balances (`payledger.domain.
withdrawal_proof`)."""

from __future__ import annotations

from uuid import UUID

from payledger.domain.commands.balance import WithdrawalCommand
from payledger.domain.commands.base import Command, Text
from payledger.domain.permissions import P, either, platform_only


class SendWithdrawalProof(WithdrawalCommand):
    """Ask the host to send the party the proof of its paid withdrawal (an operator: of
    the platform's balance); each request is a proof of its own (`proof_id`: the
    caller's reference, or a new one)."""

    allowed = either(P.WITHDRAW, P.MANAGE_PLATFORM_BALANCES)
    proof_id: UUID | None = None


class ProofCommand(Command):
    proof_id: UUID


class ConfirmWithdrawalProof(ProofCommand):
    """The host reports the proof sent (`reference`: its mail provider's id)."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reference: Text | None = None


class FailWithdrawalProof(ProofCommand):
    """The host reports the proof undeliverable; the party may ask again."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text
