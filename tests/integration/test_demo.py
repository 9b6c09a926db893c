"""The demo: deterministic for a seed, realistic mixes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import open_settlement
from payledger.simulation import START, Simulation, adjustments, balances, money, states

Outcome = tuple[dict[str, Counter[str]], dict[str, int], int]


def simulate(tmp_path: Path, name: str, seed: int, days: int, **settings: object) -> Outcome:
    clock = SimulatedClock(START)
    config = Settings(store_url=f"sqlite:///{tmp_path}/{name}/events.db", **settings)
    ledger = Ledger(config, clock=clock)
    settlement = open_settlement(config, clock=clock, ledger=ledger)
    try:
        report = Simulation(ledger, clock, seed=seed, days=days, settlement=settlement).run()
        assert report.commands + report.timed_steps >= 50 * days * 2
        settlement.catch_up()
        held = sum(b.holding + b.withdrawn for b in balances(settlement)) - adjustments(settlement)
        return states(ledger, report, settlement), money(ledger), held
    finally:
        settlement.close()
        ledger.close()


def test_same_seed_tells_the_same_story(tmp_path: Path) -> None:
    first = simulate(tmp_path, "a", seed=7, days=3)
    again = simulate(tmp_path, "b", seed=7, days=3)
    other = simulate(tmp_path, "c", seed=8, days=3)
    assert first == again
    assert first != other


EVERY_STATE = {
    "Invoice": {"draft", "open", "paid", "partially_refunded", "refunded", "expired", "void",
                "uncollectible", "charged_back"},
    "Invoice (overlays)": {"abandoned", "dispute won", "dispute lost", "warranty ended"},
    "Refund": {"succeeded", "failed", "rejected", "withdrawn", "canceled"},
    "InstallmentPlan": {"completed", "completed_with_issues", "in_progress",
                        "in_progress_with_issues", "refunded", "canceled", "inactive"},
    "Installment": {"scheduled", "invoiced", "overdue", "paid", "paid_late", "canceled",
                    "refunded"},
    "Subscription": {"incomplete", "trialing", "active", "past_due", "unpaid", "paused",
                     "canceled", "expired"},
    "Coupon": {"active", "exhausted", "disabled"},
    "Coproduction": {"invited", "accepted", "declined", "ended"},
    "Affiliation": {"requested", "approved", "refused", "ended"},
    "Balance": {"open"},
    "Withdrawal": {"paid", "failed", "canceled"},
    "Nota fiscal": {"issued", "failed"},
    "Receipt": {"sent", "failed"},
    "WithdrawalProof": {"sent", "failed"},
}


def test_ninety_days_reach_every_state_and_conserve_money(tmp_path: Path) -> None:
    reached, totals, held = simulate(tmp_path, "d", seed=1, days=90, dunning_failed_cycles=2)
    missing = {kind: sorted(wanted - set(reached.get(kind, ())))
               for kind, wanted in EVERY_STATE.items() if wanted - set(reached.get(kind, ()))}
    assert missing == {}
    shares = sum(v for k, v in totals.items() if k.startswith("share: "))
    assert shares == totals["paid"]
    assert held == totals["paid"] - totals["refunded"] - totals["charged back"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "payledger.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    done = run_cli("demo", "--days", "2", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "events written" in done.stdout
    assert "Invoice.Paid" in done.stdout
    assert "Balance.Credited" in done.stdout  # both logs' events
    assert "Document.FiscalDocumentIssued" in done.stdout  # the host fulfilled a request
    assert "Document.ReceiptSent" in done.stdout
    assert "simulated 2026-01-05 to 2026-01-06 (2 days" in done.stdout
    assert "continued" not in done.stdout
    assert "coproducer-ivo" in done.stdout  # a refusal, with its reason (whom it names)
    assert (tmp_path / "payledger-data" / "events.db").exists()
    again = run_cli("demo", "--days", "1", "--seed", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "simulated 2026-01-07 to 2026-01-07 (1 day," in again.stdout
    assert "continued the story this store already held" in again.stdout


def test_bad_arguments_get_one_line(tmp_path: Path) -> None:
    for args in (["demo", "--days", "abc"], ["demo", "--days", "0"],
                 ["demo", "--store", "mysql://x/y"], ["verify", "not-a-uuid"],
                 ["verify", "00000000-0000-4000-8000-000000000000"],  # no events: an error
                 ["demo", "--days", "1", "--store", "sqlite:////proc/payledger/events.db"]):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode in (1, 2), args
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("payledger: error: ")


def test_tick_from_the_command_line_catches_up_then_writes_nothing(tmp_path: Path) -> None:
    assert run_cli("demo", "--days", "2", cwd=tmp_path).returncode == 0
    first = run_cli("tick", "--as-of", "2027-01-01T00:00:00+00:00", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ledger tick" in first.stdout
    assert "settlement tick" in first.stdout
    assert " 0 steps run" not in first.stdout.split("settlement")[0]
    again = run_cli("tick", "--as-of", "2027-01-01T00:00:00+00:00", cwd=tmp_path)
    assert again.stdout.count(" 0 steps run in 0 rounds") == 2, again.stdout
