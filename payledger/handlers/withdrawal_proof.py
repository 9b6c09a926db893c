"""Handlers of a withdrawal's proof, run by the Settlement (whose store holds balances).

The request reads the party's own balance (an operator's: the platform's) as the
withdrawal commands do (`own_balance`), and writes only the proof: the balance is read,
never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.withdrawal_proof import WithdrawalProof
from payledger.handlers.balance import own_balance
from payledger.handlers.steps import of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

ProofStep = Callable[[WithdrawalProof, Any], None]


def send_withdrawal_proof(work: Work, cmd: c.SendWithdrawalProof, _: Settings) -> UUID:
    balance = own_balance(work, cmd.balance_id)
    proof_id = work.new_id(WithdrawalProof, cmd.proof_id)
    return work.add(WithdrawalProof.request(proof_id, balance, cmd.withdrawal_id)).id


def on_proof(step: ProofStep) -> Handler:
    """A handler recording an outcome on the proof the command names."""
    return of(step)(on_one(lambda work, cmd: work.named(WithdrawalProof, cmd.proof_id))(
        lambda _, proof, cmd, __: step(proof, cmd)))


@on_proof
def _proof_sent(proof: WithdrawalProof, cmd: c.ConfirmWithdrawalProof) -> None:
    proof.send(cmd.reference)


@on_proof
def _proof_failed(proof: WithdrawalProof, cmd: c.FailWithdrawalProof) -> None:
    proof.fail(cmd.reason)


WITHDRAWAL_PROOFS = AggregateWiring(
    kind=WithdrawalProof,
    app="settlement",
    handlers={
        c.SendWithdrawalProof: send_withdrawal_proof,
        c.ConfirmWithdrawalProof: _proof_sent,
        c.FailWithdrawalProof: _proof_failed,
    },
)
