"""The demo: deterministic for a seed, realistic mixes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.simulation import START, Simulation, money, states

Outcome = tuple[dict[str, Counter[str]], dict[str, int]]


def simulate(tmp_path: Path, name: str, seed: int, days: int) -> Outcome:
    clock = SimulatedClock(START)
    ledger = Ledger(Settings(store_url=f"sqlite:///{tmp_path}/{name}/events.db"), clock=clock)
    try:
        report = Simulation(ledger, clock, seed=seed, days=days).run()
        assert report.commands + report.timed_steps >= 50 * days * 2
        return states(ledger, report), money(ledger, report)
    finally:
        ledger.close()


def test_same_seed_tells_the_same_story(tmp_path: Path) -> None:
    first = simulate(tmp_path, "a", seed=7, days=3)
    again = simulate(tmp_path, "b", seed=7, days=3)
    other = simulate(tmp_path, "c", seed=8, days=3)
    assert first == again
    assert first != other


def test_thirty_days_reach_the_invoice_and_refund_states(tmp_path: Path) -> None:
    reached, totals = simulate(tmp_path, "d", seed=1, days=30)
    assert set(reached["Invoice"]) >= {
        "draft", "open", "paid", "partially_refunded", "refunded", "expired", "void",
        "uncollectible", "charged_back"}
    assert set(reached["Invoice (overlays)"]) >= {
        "abandoned", "dispute won", "dispute lost", "warranty ended"}
    assert set(reached["Refund"]) >= {"succeeded", "rejected", "withdrawn"}
    shares = sum(v for k, v in totals.items() if k.startswith("share: "))
    assert shares == totals["paid"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "payledger.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    done = run_cli("demo", "--days", "2", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "events written" in done.stdout
    assert "Invoice.Paid" in done.stdout
    assert (tmp_path / "payledger-data" / "events.db").exists()


def test_bad_arguments_get_one_line(tmp_path: Path) -> None:
    for args in (["demo", "--days", "abc"], ["demo", "--days", "0"],
                 ["demo", "--store", "mysql://x/y"], ["verify", "not-a-uuid"]):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode in (1, 2), args
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("payledger: error: ")
