"""Where the benchmarks keep generated data and write their results.

`benchmarks/data` and `benchmarks/results` by default; `LAKEHOUSE_BENCH_DATA` and
`LAKEHOUSE_BENCH_RESULTS` move them (the tests run every script on small data without touching
the recorded results).
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent
DATA = Path(os.environ.get("LAKEHOUSE_BENCH_DATA", HERE / "data"))
RESULTS = Path(os.environ.get("LAKEHOUSE_BENCH_RESULTS", HERE / "results"))
RESULTS.mkdir(parents=True, exist_ok=True)
