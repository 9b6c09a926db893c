"""The benches' `--profile`: a cProfile's top functions, printed the same way."""

from __future__ import annotations

import cProfile
import io
import pstats


def print_stats(title: str, profiler: cProfile.Profile, lines: int = 30,
                orders: tuple[str, ...] = ("tottime", "cumulative")) -> None:
    """`profiler`'s top `lines` functions by each of `orders`, without pstats' headers."""
    for order in orders:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(lines)
        print(f"\n--- cProfile, {title}, by {order} ---")
        print("\n".join(line for line in out.getvalue().splitlines()
                        if line.strip() and "Ordered by" not in line
                        and "List reduced" not in line), flush=True)
