"""AWS emulation for tests: moto's server on 127.0.0.1, and an environment that cannot reach AWS.

The server runs in a child process (moto's `ThreadedMotoServer`, port chosen by the OS and
reported back): in-process, a delta-rs call that holds the GIL while it waits on S3 (e.g.
`DeltaTable.history`) would wait for a server thread that can never run. The fixture that
starts the server stops it. A test module loads the fixtures with

    pytest_plugins = ["aws_fixtures"]
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "us-east-1"
SERVER = """
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

# S3 checks a conditional write (If-None-Match: *, If-Match) and stores the object in one step;
# moto checks, then stores, so two racing PUTs of one Delta commit could both succeed and one
# overwrite the other. One lock around moto's object writes makes them as atomic as S3's.
writes = threading.RLock()


def atomic(handler):
    def locked(self, *args, **kwargs):
        with writes:
            return handler(self, *args, **kwargs)

    return locked


S3Response.put_object = atomic(S3Response.put_object)
S3Response._key_response_post = atomic(S3Response._key_response_post)  # completes multipart
sys.setswitchinterval(float(sys.argv[1]))
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test process closes the pipe
server.stop()
"""
OFFLINE = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21,22,23",
}


@contextmanager
def moto_server(switch_interval: float | None = None) -> Iterator[str]:
    """http://127.0.0.1:PORT of a new moto server, stopped when the block ends.

    `switch_interval` sets the server's `sys.setswitchinterval`: a tiny one switches its request
    threads often enough to expose a check-then-write race within a few hundred requests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | OFFLINE
    interval = sys.getswitchinterval() if switch_interval is None else switch_interval
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(interval)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port = int(proc.stdout.readline())
    except ValueError:
        proc.kill()
        raise RuntimeError("moto server did not start") from None
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server for this test session (one per xdist worker)."""
    with moto_server() as url:
        yield url


@dataclass
class Aws:
    endpoint: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def bucket(self, prefix: str = "lake", *, versioned: bool = False) -> str:
        """A new, empty bucket with a unique name."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """Dummy credentials and the moto endpoint in the environment (boto3, pyarrow and delta-rs
    all read it); nothing can reach real AWS or the instance metadata service."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in (OFFLINE | {"AWS_ENDPOINT_URL": moto_endpoint}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LAKEHOUSE_LANDING", raising=False)
    monkeypatch.delenv("LAKEHOUSE_ARCHIVE", raising=False)
    return Aws(moto_endpoint)
