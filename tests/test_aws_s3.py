"""s3:// roots on moto: the whole pipeline gives the tables a local root gives, and concurrent
writers to one Delta table lose no commit (S3 conditional writes, no unsafe rename)."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from aws_fixtures import OFFLINE, REGION, Aws, moto_server
from conftest import business_rows, lab_csvs
from lakehouse import Lakehouse
from lakehouse.errors import TerminalError
from lakehouse.store.delta import CommitInfo, ensure_table, open_table, retry_conflicts
from lakehouse.store.root import Root

pytestmark = pytest.mark.aws
pytest_plugins = ["aws_fixtures"]
DIRTY = Path(__file__).parent / "scenarios" / "dirty_lab" / "input" / "run1"


def _keys(aws: Aws, bucket: str, prefix: str = "") -> list[str]:
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _compared(lh: Lakehouse) -> list[str]:
    return [
        t.name
        for t in lh.tables()
        if t.name.split(".")[0] in ("silver", "quarantine", "gold") and t.rows
    ]


def test_pipeline_on_s3_matches_local_root(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, landing, archive = aws.bucket("lake"), aws.bucket("landing"), aws.bucket("archive")
    local = Lakehouse(tmp_path / "local")
    # as deployed: landing and archive in their own buckets (the Glue job's settings)
    monkeypatch.setenv("LAKEHOUSE_LANDING", f"s3://{landing}")
    monkeypatch.setenv("LAKEHOUSE_ARCHIVE", f"s3://{archive}")
    remote = Lakehouse(f"s3://{lake}/prod")
    deliveries = [lab_csvs(tmp_path / "lab"), sorted(DIRTY.iterdir())]
    for files in deliveries:
        a, b = local.run(files), remote.run(files)
        assert (a.status, b.status) == ("SUCCEEDED", "SUCCEEDED")
        assert (a.rows_in, a.rows_quarantined) == (b.rows_in, b.rows_quarantined)
        assert a.files_rejected == b.files_rejected
    tables = _compared(local)
    assert {"silver.orders", "silver.products", "silver.order_items"} <= set(tables)
    assert any(t.startswith("quarantine.") for t in tables)
    assert _compared(remote) == tables
    for name in tables:
        assert business_rows(remote, name).equals(business_rows(local, name)), name
    # files left landing for the archive bucket (or quarantine/files when rejected whole)
    assert _keys(aws, landing) == []  # not even folder markers
    archived = [k.rsplit("/", 1)[-1] for k in _keys(aws, archive) if not k.endswith("/")]
    assert {"orders.csv", "products.csv", "order_items.csv"} <= set(archived)
    if a.files_rejected:
        assert [k for k in _keys(aws, lake, "prod/quarantine/files/") if k.endswith(".reason.json")]
    runs = remote.sql("SELECT status FROM _ops.runs").column("status").to_pylist()
    assert runs == ["SUCCEEDED", "SUCCEEDED"]
    # a delivery sent again: loaded files are duplicates, rejected ones rejected again (checked
    # against today's contracts), nothing new in silver, on S3 as locally
    before = {t.name: t.version for t in remote.tables() if t.name.startswith("silver.")}
    again = remote.run(deliveries[1])
    assert again.files_rejected == b.files_rejected
    loaded = [p.name for p in deliveries[1] if p.name not in b.files_rejected]
    assert sorted(again.files_duplicate) == sorted(loaded)
    assert {t.name: t.version for t in remote.tables() if t.name.startswith("silver.")} == before


def test_emulated_conditional_put_has_one_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator the concurrency tests run on keeps S3's promise: of racing `If-None-Match: *`
    PUTs to one key, exactly one succeeds. moto alone checks, then stores; with its threads
    switched every microsecond, a few keys in fifty got two winners before the harness's lock."""
    import boto3
    from botocore.exceptions import ClientError

    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    racers, keys = 12, 50
    with moto_server(switch_interval=1e-6) as url:
        clients = [boto3.client("s3", endpoint_url=url, region_name=REGION) for _ in range(racers)]
        clients[0].create_bucket(Bucket="race-put")
        winners: dict[int, list[int]] = {k: [] for k in range(keys)}
        refused: list[str] = []
        start = threading.Barrier(racers, timeout=60)

        def race(n: int) -> None:
            for k in range(keys):
                start.wait()
                try:
                    clients[n].put_object(
                        Bucket="race-put",
                        Key=f"_delta_log/{k:020}.json",
                        Body=b"%d" % n,
                        IfNoneMatch="*",
                    )
                    winners[k].append(n)
                except ClientError as exc:
                    refused.append(exc.response["Error"]["Code"])

        threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = {
            k: clients[0].get_object(Bucket="race-put", Key=f"_delta_log/{k:020}.json")["Body"]
            for k in range(keys)
        }
        assert {k: len(w) for k, w in winners.items()} == dict.fromkeys(range(keys), 1)
        assert refused == ["PreconditionFailed"] * (keys * (racers - 1))
        assert {k: int(body.read()) for k, body in stored.items()} == {
            k: w[0] for k, w in winners.items()
        }


def test_four_concurrent_writers_lose_no_commit(aws: Aws) -> None:
    bucket = aws.bucket("race", versioned=True)  # an overwritten commit would leave 2 versions
    root = Root(f"s3://{bucket}/lake")
    schema = pa.schema([("k", pa.int64()), ("writer", pa.int64()), ("v", pa.int64())])
    writers, rounds = 4, 3
    together = threading.Barrier(writers, timeout=120)  # all read the same version, then commit
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            together.wait()
            ensure_table(root, "silver", "race", schema)  # racing creators: one table
            for i in range(rounds):
                rows = pa.table({"k": [w * 100 + i], "writer": [w], "v": [i]}, schema=schema)
                update = pa.table({"k": [w * 100 + i], "writer": [w], "v": [-i]}, schema=schema)
                tries = [0]

                def append(rows: pa.Table = rows, i: int = i, tries: list[int] = tries) -> None:
                    tries[0] += 1
                    write_deltalake(
                        open_table(root, "silver", "race"),  # the newest version, every try
                        rows,
                        mode="append",
                        commit_properties=CommitInfo(f"w{w}", f"append-{i}").properties(),
                    )

                def merge(update: pa.Table = update, i: int = i, tries: list[int] = tries) -> None:
                    tries[0] += 1
                    (
                        open_table(root, "silver", "race")
                        .merge(
                            update,
                            predicate="t.k = s.k",
                            source_alias="s",
                            target_alias="t",
                            commit_properties=CommitInfo(f"w{w}", f"merge-{i}").properties(),
                        )
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute()
                    )

                retry_conflicts(append, attempts=20, pause=0.05)
                together.wait()
                retry_conflicts(merge, attempts=20, pause=0.05)
                conflicts.append(tries[0] - 2)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            together.abort()  # release the others

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    dt = open_table(root, "silver", "race")
    history = sorted(dt.history(), key=lambda h: h["version"])
    # racing creators: the first wins version 0; a loser either sees the table or (delta-rs)
    # re-commits the same schema — never anything else
    creates = [h for h in history if h["operation"] == "CREATE TABLE"]
    assert 1 <= len(creates) <= writers and history[0]["operation"] == "CREATE TABLE"
    assert pa.schema(dt.schema()) == schema
    made = sorted(
        (h["lakehouse.run_id"], h["lakehouse.operation"]) for h in history[1:] if h not in creates
    )
    assert made == sorted(
        (f"w{w}", f"{op}-{i}")
        for w in range(writers)
        for i in range(rounds)
        for op in ("append", "merge")
    )
    commits = len(history)
    assert [h["version"] for h in history] == list(range(commits))
    rows = dt.to_pyarrow_table().sort_by("k").to_pylist()
    assert rows == [
        {"k": w * 100 + i, "writer": w, "v": -i} for w in range(writers) for i in range(rounds)
    ]
    # every log entry was written exactly once: S3 refused each losing writer's PUT
    versions = aws.client("s3").list_object_versions(
        Bucket=bucket, Prefix="lake/silver/race/_delta_log/"
    )
    log = [v["Key"] for v in versions.get("Versions", []) if v["Key"].endswith(".json")]
    log = [k for k in log if k.rsplit("/", 1)[-1][:20].isdigit()]
    assert sorted(log) == sorted(set(log)) and len(log) == commits
    assert sum(conflicts) >= 1, "the writers never raced; the test proves nothing"


def test_unsafe_rename_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    with pytest.raises(TerminalError, match="AWS_S3_ALLOW_UNSAFE_RENAME"):
        Root("s3://bucket/lake").storage_options()


def test_storage_options_use_conditional_put(aws: Aws) -> None:
    opts = Root("s3://bucket/lake").storage_options()
    assert opts is not None
    assert opts["conditional_put"] == "etag"
    assert opts["AWS_ENDPOINT_URL"] == aws.endpoint and opts["AWS_ALLOW_HTTP"] == "true"
    assert not any("UNSAFE" in k.upper() or "LOCKING" in k.upper() for k in opts)


def test_landing_and_archive_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(tmp_path / "in"))
    root = Root(tmp_path / "lake", archive=tmp_path / "old")
    assert root.path("landing", "a.csv") == f"{tmp_path}/in/a.csv"
    assert root.path("archive", "d", "a.csv") == f"{tmp_path}/old/d/a.csv"
    assert root.path("silver", "orders") == f"{tmp_path}/lake/silver/orders"
    with pytest.raises(TerminalError, match="same storage"):
        Root("s3://b/lake", landing=tmp_path / "in")
