"""A long-lived aggregate loads from its snapshot plus fewer than N events.

One wallet with `--events` events (default 100,000), plus N - 1 more so the load
replays the most events it ever does after a snapshot: credits, each a receivable, and a
release every `RELEASE_EVERY` credits of what matured, so a few thousand receivables
are pending at any time, as in a big partner's wallet. The events are made by the
Balance's own methods and saved through the Settlement (`save`, which takes a snapshot
every `snapshot_interval` events), in batches; not timed.

Timed, each the median of `--runs` loads with the aggregate cache off:
- **snapshot**: decoding the latest snapshot alone (the baseline);
- **load**: `repository.get`: that snapshot plus the events after it (fewer than N);
- **replay** (for context): every event, on a store written without snapshots.

Target: load <= 2 x snapshot.

    python -m payledger.bench.snapshots [--events 100000] [--interval N] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.domain import Snapshot

from payledger.domain.balance import Balance, Source
from payledger.domain.envelope import Envelope, acting
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement

START = datetime(2026, 1, 5, 3, tzinfo=UTC)
PARTY = "partner"
RELEASE_EVERY = 100  # credits between two releases
PENDING_DAYS = 30  # a credit matures this long after it is made
BATCH = 1_000
SOURCE: Source = {"source_account": "producer-1", "role": "coproducer"}
TZ = "America/Sao_Paulo"


def envelope(at: datetime) -> Envelope:
    command_id = uuid4()
    return Envelope(account=PARTY, at=at, actor="bench", correlation_id=command_id,
                    causation_id=None, command_id=command_id, actor_kind="platform",
                    actor_role="settlement")


def fill(settlement: Settlement, events: int, batch: int) -> UUID:
    """One wallet of `events` events; its id. Saved so each save ends on a multiple of
    `batch` (the snapshot interval), so the snapshots are at those versions."""
    at = START
    with acting(envelope(at)):
        wallet = Balance.open(PARTY, "BRL", reserve_interval=timedelta(days=7))
    made = 1
    while made < events:
        for _ in range(min(batch - made % batch, events - made)):
            at += timedelta(minutes=7)
            with acting(envelope(at)):
                if made % RELEASE_EVERY == 0 and wallet.next_release_at is not None \
                        and wallet.next_release_at <= at:
                    wallet.release(at)
                else:
                    wallet.credit(uuid4(), 1_000, at + timedelta(days=PENDING_DAYS), at, TZ,
                                  SOURCE)
            made += 1
        settlement.save(wallet)
    return wallet.id


def median_seconds(call: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(folder: Path, events: int, interval: int, runs: int) -> dict[str, Any]:
    settings = Settings(store_url=f"sqlite:///{folder}/events.db", snapshot_interval=interval,
                        aggregate_cache=0)
    ledger = Ledger(settings)
    settlement = open_settlement(settings, ledger=ledger)
    try:
        began = time.perf_counter()
        wallet_id = fill(settlement, events, interval or BATCH)
        filled = time.perf_counter() - began
        loaded = settlement.load(Balance, wallet_id)
        figures: dict[str, Any] = {"events": loaded.version,
                                   "pending": len(loaded.receivables), "fill_s": filled}
        store = settlement.snapshots
        if store is not None:
            latest = next(iter(store.get(wallet_id, desc=True, limit=1)))
            figures["after_snapshot"] = loaded.version - latest.originator_version

            def decode_snapshot() -> None:
                stored = cast(Snapshot, next(iter(store.get(wallet_id, desc=True, limit=1))))
                stored.mutate(None)

            figures["snapshot_s"] = median_seconds(decode_snapshot, runs)
        figures["load_s"] = median_seconds(lambda: settlement.repository.get(wallet_id), runs)
        return figures
    finally:
        settlement.close()
        ledger.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--interval", type=int, default=Settings().snapshot_interval)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    events = args.events + args.interval - 1  # the worst case: N - 1 after the snapshot
    with tempfile.TemporaryDirectory() as root:
        with_snapshots = measure(Path(root) / "a", events, args.interval, args.runs)
        without = measure(Path(root) / "b", events, 0, max(1, args.runs // 2))
    ratio = with_snapshots["load_s"] / with_snapshots["snapshot_s"]
    print(f"one wallet: {with_snapshots['events']:,} events, "
          f"{with_snapshots['pending']:,} receivables pending; snapshot every "
          f"{args.interval} events (saved in {with_snapshots['fill_s']:.1f} s)")
    print(f"  decode the latest snapshot  {with_snapshots['snapshot_s'] * 1000:9.2f} ms")
    print(f"  load (snapshot + {with_snapshots['after_snapshot']} events) "
          f"{with_snapshots['load_s'] * 1000:9.2f} ms   ratio {ratio:.2f} "
          f"(target <= 2.00: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"  replay all, no snapshots    {without['load_s'] * 1000:9.2f} ms   "
          f"({without['load_s'] / with_snapshots['load_s']:.0f}x the load)")


if __name__ == "__main__":
    main()
