"""Read an untrusted file in a worker process whose memory, time and output are capped.

A delivered file can make its reader abort natively (calamine allocating 512 GiB for one cell at
XFD1048576 ends the process with SIGABRT), run out of memory or never finish. None of that can
be caught in the pipeline's own process, so `read_isolated` hands the bytes to a worker confined
by `RLIMIT_AS` = `intake.max_reader_memory_bytes`, a wall-clock deadline and CPU seconds from
`intake.max_seconds_per_file`, output files no larger than the memory cap and no core file, and
takes back the batches as Arrow IPC files. A worker that dies or overruns becomes
`FileRejected(unreadable_file)` whose detail names the signal or the limit; the run goes on with
its other files and the next run meets the file only in quarantine.

The worker is forked by a small reader server (`python -m lakehouse.ingest.sandbox`, started once
per process, readers already imported), never by the pipeline's process itself, which holds DuckDB
and the lock's heartbeat thread; unlike `multiprocessing`, it never re-imports the caller's
`__main__`. The worker reads file after file and is replaced whenever a file takes it down, so a
file only ever costs its own read. Input and answer travel through a private scratch folder, so
a worker killed mid-write can never leave half a message in a pipe; a scratch folder that cannot
be written (a full disk) is a `RetryableError` of the run, never a rejection of the file.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakehouse.config.settings import IntakeSettings
from lakehouse.errors import FileRejected, RetryableError
from lakehouse.ingest.batch import Batch
from lakehouse.ingest.readers import read_file

_UNREADABLE = ["unreadable_file"]
# how a read ended: ("exited", 0, "") answered, ("storage", 0, error) scratch not writable,
# ("signal", number, ""), ("exited", code, "") or ("timeout", 0, "") the worker is gone
Outcome = tuple[str, int, str]
_GRACE_SECONDS = 10.0  # the server reports a timeout itself; the parent waits this much longer


def read_isolated(name: str, data: bytes, limits: IntakeSettings) -> list[Batch]:
    """`read_file` in a confined child: the same batches, or `FileRejected` naming what failed."""
    with tempfile.TemporaryDirectory(prefix="lakehouse-read-") as scratch:
        how, value, note = _server().read(name, data, limits, scratch)
        if how == "storage":
            raise RetryableError(f"{name}: the reader's scratch folder {scratch}: {note}")
        answer = Path(scratch, "answer.json")
        if how == "exited" and value == 0 and answer.exists():
            return _answer(name, json.loads(answer.read_text()), Path(scratch))
        raise FileRejected(name, _UNREADABLE, _why(how, value, Path(scratch, "stderr"), limits))


def _answer(name: str, answer: dict[str, Any], scratch: Path) -> list[Batch]:
    if "rejected" in answer:
        reasons, detail = answer["rejected"]
        raise FileRejected(name, reasons, detail)
    batches = []
    for i, (sheet, index, columns, canonical) in enumerate(answer["batches"]):
        # mapped, not copied: the pages stay valid after the scratch folder is removed
        table = pa.ipc.open_file(pa.memory_map(str(scratch / f"{i}.arrow"))).read_all()
        batches.append(Batch(sheet, index, columns, table, canonical))
    return batches


def _why(how: str, value: int, stderr: Path, limits: IntakeSettings) -> str:
    seconds = f"intake.max_seconds_per_file = {limits.max_seconds_per_file:g} s"
    memory = f"intake.max_reader_memory_bytes = {limits.max_reader_memory_bytes:,}"
    if how == "timeout" or (how == "signal" and value == signal.SIGXCPU):
        return f"reading took longer than {seconds}; the reader was stopped"
    if how == "signal" and value == signal.SIGXFSZ:
        return f"the file's rows as text are larger than {memory}"
    said = _first_line(stderr)
    ended = f"ended by {signal.Signals(value).name}" if how == "signal" else f"exited ({value})"
    return f"the reader process {ended}{f' ({said})' if said else ''}; it may use at most {memory}"


def _first_line(path: Path) -> str:
    try:
        head = path.read_bytes()[:4096].decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return head.splitlines()[0][:200] if head else ""


# --- the parent's side of the reader server ------------------------------------
class _ReaderServer:
    """A `python -m lakehouse.ingest.sandbox` process whose confined worker reads the files."""

    def __init__(self) -> None:
        ours_r, theirs_w = os.pipe()
        theirs_r, ours_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lakehouse.ingest.sandbox", str(theirs_r), str(theirs_w)],
            pass_fds=(theirs_r, theirs_w),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(theirs_r)
        os.close(theirs_w)
        self.requests = Connection(ours_w, readable=False)
        self.answers = Connection(ours_r, writable=False)
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None

    def read(self, name: str, data: bytes, limits: IntakeSettings, scratch: str) -> Outcome:
        """Have the worker read the file into `scratch`; how that ended (see `Outcome`)."""
        Path(scratch, "input").write_bytes(data)  # a full disk fails the run, retryably
        with self.lock:
            hung = False
            try:
                self.requests.send((name, limits, scratch))
                if self.answers.poll(limits.max_seconds_per_file + _GRACE_SECONDS):
                    how, value, note = self.answers.recv()
                    return str(how), int(value), str(note)
                hung = True
            except (OSError, EOFError):
                pass
            self.stop()  # a server that died or hangs is replaced for the next file
            return ("timeout", 0, "") if hung else ("exited", -1, "")

    def stop(self) -> None:
        self.requests.close()
        self.answers.close()
        if self.alive():
            self.process.kill()
        self.process.wait()


_started: list[_ReaderServer] = []
_starting = threading.Lock()


def start_reader_server() -> None:
    """Start the reader server if it is not running; returns at once (it imports on its own)."""
    _server()


def _server() -> _ReaderServer:
    with _starting:
        if not _started or not _started[-1].alive() or _started[-1].requests.closed:
            _started[:] = [_ReaderServer()]
        return _started[-1]


# --- the server and its children -----------------------------------------------
_WARM_UP = {
    "warm.csv": b"a,b\n1,x\n",
    "warm.jsonl": b'{"a": 1, "b": "x"}\n',
}


def _serve(requests: Connection, answers: Connection) -> None:
    """Relay each request to a confined worker and report how it ended; stop when the parent goes.

    A worker reads file after file (a fork per file costs more than reading a day's file); one
    that dies or overruns is replaced, so a file can only ever take down its own read.

    The server and its workers ignore SIGINT and SIGTERM (the workers inherit it): Ctrl-C in a
    terminal and systemd's stop signal reach the whole process group, and a reader they ended
    made its file a poison file, rejected whole, while the run went on and was recorded
    SUCCEEDED. The parent owns their lives: it kills them (SIGKILL), and when it exits the
    server reads the end of its requests and returns, its worker with it.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    for name, sample in _WARM_UP.items():  # first use of the Arrow readers costs about a second:
        read_file(name, sample)  # pay it here once, not in every worker
    worker: _Worker | None = None
    while True:
        try:
            name, limits, scratch = requests.recv()
        except EOFError:
            return
        if worker is not None and worker.limits != limits:
            worker.stop()
            worker = None
        worker = worker or _Worker(limits)
        outcome = worker.read(name, scratch)
        if outcome[0] not in ("exited", "storage") or outcome[1] != 0:
            worker = None
        answers.send(outcome)


class _Worker:
    """A forked, confined process that reads the files it is sent, one at a time."""

    def __init__(self, limits: IntakeSettings) -> None:
        self.limits = limits
        jobs_r, jobs_w = os.pipe()
        done_r, done_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.close(jobs_w)
                os.close(done_r)
                _confine(limits)
                jobs = Connection(jobs_r, writable=False)
                _work(jobs, Connection(done_w, readable=False), limits)
                code = 0
            finally:
                os._exit(code)
        os.close(jobs_r)
        os.close(done_w)
        self.jobs = Connection(jobs_w, readable=False)
        self.done = Connection(done_r, writable=False)

    def read(self, name: str, scratch: str) -> Outcome:
        """How the worker's read of one file ended (see `Outcome`)."""
        try:
            self.jobs.send((name, scratch))
            if self.done.poll(self.limits.max_seconds_per_file):
                error = self.done.recv()
                return ("storage", 0, error) if error else ("exited", 0, "")
        except (OSError, EOFError):  # it died: a signal, or an exit of its own
            return self._reap()
        self.stop()
        return "timeout", 0, ""

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> Outcome:
        _, status = os.waitpid(self.pid, 0)
        self.jobs.close()
        self.done.close()
        if os.WIFSIGNALED(status):
            return "signal", os.WTERMSIG(status), ""
        return "exited", os.WEXITSTATUS(status) or -1, ""  # a worker never ends on its own


def _work(jobs: Connection, done: Connection, limits: IntakeSettings) -> None:
    while True:
        try:
            name, scratch = jobs.recv()
        except EOFError:
            return
        try:
            _per_file(Path(scratch, "stderr"), limits)
            _read_into(name, Path(scratch, "input").read_bytes(), limits, Path(scratch))
        except OSError as exc:  # the scratch folder, not the file: say so, keep the worker
            done.send(f"{type(exc).__name__}: {exc}")
        else:
            done.send("")


def _confine(limits: IntakeSettings) -> None:
    """Cap the worker's address space and file sizes; no core file; short dying words."""
    memory = limits.max_reader_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ["RUST_BACKTRACE"] = "0"


def _per_file(stderr: Path, limits: IntakeSettings) -> None:
    """CPU seconds for this file (the parent's wall clock usually acts first); stderr to its own
    file so that a native abort's message can be quoted."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + limits.max_seconds_per_file) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
    fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)


def _read_into(name: str, data: bytes, limits: IntakeSettings, scratch: Path) -> None:
    """Read the file; write each batch as `<i>.arrow`, then `answer.json` (last: it means done)."""
    try:
        batches = read_file(name, data, limits)
    except FileRejected as exc:
        answer: dict[str, Any] = {"rejected": [exc.reasons, _memory_hint(exc, limits)]}
    else:
        for i, b in enumerate(batches):
            with (
                pa.OSFile(str(scratch / f"{i}.arrow"), "wb") as sink,
                pa.ipc.new_file(sink, b.table.schema) as writer,
            ):
                writer.write_table(b.table)
        answer = {
            "batches": [[b.sheet, b.sheet_index, b.columns, dict(b.canonical)] for b in batches]
        }
    partial = scratch / "answer.json.partial"
    partial.write_text(json.dumps(answer))
    shutil.move(partial, scratch / "answer.json")


def _memory_hint(exc: FileRejected, limits: IntakeSettings) -> str:
    if isinstance(exc.__cause__, MemoryError):
        return (
            f"out of memory: reading needs more than intake.max_reader_memory_bytes = "
            f"{limits.max_reader_memory_bytes:,} ({exc.detail})"
        )
    return exc.detail


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    )
