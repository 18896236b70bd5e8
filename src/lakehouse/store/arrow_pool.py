"""Arrow's allocator in lakehouse processes: jemalloc on Linux, unless the user chose one.

pyarrow's wheels allocate with mimalloc by default. On the lakehouse's pattern of work (tables
of tens to hundreds of MB built, filtered and dropped, model after model) mimalloc was many
times slower than jemalloc or glibc's malloc on Linux: filtering the 488,403 rows of a stored
`gold.customer_profile` took up to 0.9 s with it (0.95 s inside a run) and 0.02-0.04 s with
either of the others, and a one-day run into a 10 M-item lakehouse 6.9-7.3 s against 4.5-4.8 s
(docs/performance.md).

Arrow reads `ARROW_DEFAULT_MEMORY_POOL` once, when pyarrow loads. So importing `lakehouse` sets
it (pyarrow is not loaded for that: the CLI's quick commands stay quick), which also reaches
the processes the lakehouse starts (the reader's sandbox); a pyarrow loaded before `lakehouse`
is switched with `pyarrow.set_memory_pool`. A value the user set is left as it is, and other
systems keep pyarrow's default (Windows wheels have no jemalloc; macOS was not measured).
"""

from __future__ import annotations

import contextlib
import os
import sys

VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_jemalloc() -> None:
    """Make jemalloc Arrow's default allocator in this process and the ones it starts."""
    if not sys.platform.startswith("linux") or VARIABLE in os.environ:
        return
    os.environ[VARIABLE] = "jemalloc"
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:  # loaded before lakehouse: its default pool is already chosen
        with contextlib.suppress(NotImplementedError):  # built without jemalloc: its default
            pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())
