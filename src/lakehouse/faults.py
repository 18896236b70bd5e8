"""Named points where a test can kill the process (LAKEHOUSE_FAULT=<point>), to prove recovery."""

from __future__ import annotations

import os
import signal


def checkpoint(point: str) -> None:
    if os.environ.get("LAKEHOUSE_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
