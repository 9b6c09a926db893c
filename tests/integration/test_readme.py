"""The README's embed example runs as written (on a SQLite file instead of the
PostgreSQL URL it names), prints what it did, and can be run twice: every step carries
an idempotency key, so the second run records nothing new."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def test_the_embed_example_runs_twice_and_the_second_run_writes_nothing(tmp_path: Path) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    script = tmp_path / "embed.py"
    script.write_text(example.replace("postgresql://app@db:5432/billing",
                                      f"sqlite:///{tmp_path}/events.db"))
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           timeout=120, check=False) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.splitlines() for run in runs)
    assert first[0].startswith("sale recorded ")
    assert second[0] == first[0].replace("recorded", "repeated")
    assert first[1] == second[1] == "aff-7 pending: 7100"  # credited once, not twice
