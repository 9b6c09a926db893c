"""The `payledger` command line: parses, calls the library, prints. Nothing more."""

from __future__ import annotations

import sys

import click

from payledger.cli.demo import (
    run_dead_letters,
    run_demo,
    run_scheduler_status,
    run_settlement_reset,
    run_tick,
    verify_chain,
)
from payledger.domain.errors import PayLedgerError

store_option = click.option(
    "--store", default=None, metavar="URL",
    help="Event store URL (default: $PAYLEDGER_STORE_URL or "
         "sqlite:///./payledger-data/events.db).")


@click.group(help="payledger: the billing core of a creator-economy platform.")
def cli() -> None:
    pass


@cli.command()
@store_option
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Random seed: same seed, same story.")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True,
              help="Days to simulate.")
@click.option("--checkouts-per-day", type=click.IntRange(1, 100_000), default=50,
              show_default=True, help="Checkouts a day.")
def demo(store: str | None, seed: int, days: int, checkouts_per_day: int) -> None:
    """Simulate a producer's shop over N days, playing the payment gateway."""
    run_demo(store, seed=seed, days=days, checkouts=checkouts_per_day)


@cli.command()
@store_option
@click.argument("aggregate_id")
def verify(store: str | None, aggregate_id: str) -> None:
    """Check the hash chain of one aggregate's stored events."""
    verify_chain(store, aggregate_id)


@cli.command()
@store_option
@click.option("--as-of", "as_of", required=True, metavar="ISO",
              help="Run every time-driven step due by this instant (ISO 8601 with offset).")
def tick(store: str | None, as_of: str) -> None:
    """Apply every time-driven transition due by an instant (expiries, abandonment, ...)."""
    run_tick(store, as_of)


@cli.group()
def settlement() -> None:
    """The settlement's store, which holds the balances."""


@settlement.command("reset")
@store_option
def settlement_reset(store: str | None) -> None:
    """Move a settlement store written before each party had its own wallet aside, catch
    up again from the Ledger's log, and list the bank accounts, withdrawals and
    adjustments only the old store held."""
    run_settlement_reset(store)


@cli.group()
def scheduler() -> None:
    """The time-driven steps of the Ledger and of the settlement."""


@scheduler.command("status")
@store_option
@click.option("--as-of", "as_of", default=None, metavar="ISO",
              help="Count the steps due by this instant (default: now).")
def scheduler_status(store: str | None, as_of: str | None) -> None:
    """Steps due and not run, and every step marked failed with why (a failed release
    shows the money it holds back)."""
    run_scheduler_status(store, as_of)


@cli.command("dead-letters")
@store_option
@click.argument("action", type=click.Choice(["list", "retry"]), default="list")
def dead_letters(store: str | None, action: str) -> None:
    """List (or retry) what the settlement and the schedulers set aside: an event or a
    timed step they could not process, while the others went on."""
    run_dead_letters(store, action)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a bad argument or a refused command is one line on stderr."""
    try:
        cli.main(args=argv, prog_name="payledger", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        print(f"payledger: error: {error.format_message()}", file=sys.stderr)
        return 2
    except click.exceptions.Abort:
        print("payledger: aborted", file=sys.stderr)
        return 130
    except PayLedgerError as error:
        print(f"payledger: error: {error}", file=sys.stderr)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
