"""Named points where a test can stop the process, to prove recovery and fencing.

`LAKEHOUSE_FAULT=<point>` kills the process there (SIGKILL); `LAKEHOUSE_PAUSE=<point>` stops
it there (SIGSTOP, as a suspended laptop or a VM pause would) until someone sends SIGCONT.
"""

from __future__ import annotations

import os
import signal


def fault_point(point: str) -> None:
    if os.environ.get("LAKEHOUSE_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("LAKEHOUSE_PAUSE") == point:
        os.kill(os.getpid(), signal.SIGSTOP)
