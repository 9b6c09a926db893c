"""WithdrawalProof: a request that the host send a party the proof of a paid withdrawal
(the bank's transfer receipt), and its outcome.

Balances live in the Settlement's store, so the proof does too, as a small aggregate of
its own beside the balance rather than events on it: a request for a proof never moves
money, and never contends with the settlement's credits for the wallet's version. As
with an invoice's documents (`payledger.domain.document`), payledger records the
request and the host fulfils it; the outcome (sent, failed) is a platform principal's
(the gateway, which reports the transfers: permission `record_payments`).

One aggregate per request (`proof_id`: the caller's reference, scoped to its account,
or a new one), made only for a withdrawal of the party's own balance that was paid;
a requested, failed or canceled withdrawal has no transfer to prove. A proof may be
asked for again (a new request), e.g. after a failure. States: requested -> sent |
failed.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from payledger.domain.balance import Balance, WithdrawalStatus
from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import InvalidTransition
from payledger.domain.permissions import Permission


class ProofStatus(StrEnum):
    REQUESTED = "requested"
    SENT = "sent"
    FAILED = "failed"


class WithdrawalProof(LedgerAggregate):
    TOPIC = "payledger:WithdrawalProof"
    KIND = "WithdrawalProof"
    READ = Permission.FINANCIAL_REPORTS

    @classmethod
    def request(cls, proof_id: UUID, balance: Balance, withdrawal_id: UUID) -> WithdrawalProof:
        """The proof of `balance`'s withdrawal `withdrawal_id`, which must be paid."""
        command = "send a withdrawal's proof"
        withdrawal = balance.withdrawals.get(str(withdrawal_id))
        if withdrawal is None:
            raise InvalidTransition("Withdrawal", "unknown", command,
                                    f"no withdrawal {withdrawal_id} on this balance")
        if withdrawal["status"] != WithdrawalStatus.PAID:
            raise InvalidTransition("Withdrawal", str(withdrawal["status"]), command,
                                    "allowed only when paid: a proof is of a transfer done")
        return cls(id=proof_id, balance_id=balance.id, withdrawal_id=withdrawal_id,
                   amount=withdrawal["amount"], currency=balance.currency)

    class Requested(LedgerCreated):
        TOPIC = "payledger:WithdrawalProof.Requested"
        balance_id: UUID
        withdrawal_id: UUID
        amount: int
        currency: str

    @event(Requested)
    def __init__(self, id: UUID, balance_id: UUID, withdrawal_id: UUID, amount: int,
                 currency: str) -> None:
        self.balance_id = balance_id
        self.withdrawal_id = withdrawal_id
        self.amount = amount
        self.currency = currency
        self.status = ProofStatus.REQUESTED
        self.reference: str | None = None
        self.reason: str | None = None

    def send(self, reference: str | None) -> None:
        self._require("record a sent proof", ProofStatus.REQUESTED)
        self._sent(reference=reference)

    class Sent(LedgerEvent):
        TOPIC = "payledger:WithdrawalProof.Sent"
        reference: str | None

    @event(Sent)
    def _sent(self, reference: str | None) -> None:
        self.status = ProofStatus.SENT
        self.reference = reference

    def fail(self, reason: str) -> None:
        self._require("record a failed proof", ProofStatus.REQUESTED)
        self._failed(reason=reason)

    class Failed(LedgerEvent):
        TOPIC = "payledger:WithdrawalProof.Failed"
        reason: str

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status = ProofStatus.FAILED
        self.reason = reason
