"""A delivered file is never lost: landing is never overwritten, every version is processed in
arrival order, the manifest names the bytes that reached bronze, partial copies are not
deliveries, and symbolic links leading outside a source folder or landing/ are never read."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lakehouse import Lakehouse
from lakehouse.config.settings import Settings
from lakehouse.orchestration import steps
from lakehouse.orchestration.definition import pipeline_definition
from lakehouse.orchestration.pipeline import copy_sources, run
from lakehouse.orchestration.state import RunState
from lakehouse.store.deliveries import arrival_order, version_name
from lakehouse.store.lock import RunLock
from lakehouse.store.root import LandedFile, Root

if TYPE_CHECKING:
    from aws_fixtures import Aws

pytest_plugins = ["aws_fixtures"]
QUIET = Settings(notifiers=())
HEADER = "product_id,department_id,department,product_name\n"
SECRET = b"root:x:0:0:secret-marker-7f3a:/root:/bin/bash\n"


def products_body(**names: str) -> bytes:
    """A products file's bytes: product_id -> product_name (department fixed)."""
    names = names or {"p1": "Kept"}
    return (HEADER + "".join(f"{k[1:]},4,Books,{v}\n" for k, v in names.items())).encode()


def products(path: Path, **names: str) -> bytes:
    """A products file: product_id -> product_name (department fixed)."""
    body = (HEADER + "".join(f"{k[1:]},4,Books,{v}\n" for k, v in names.items())).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return body


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(lh: Lakehouse) -> list[dict[str, Any]]:
    """The files manifest in run order (run ids of one second sort by their random part)."""
    t = lh.sql(
        "SELECT file, sha256, status, reasons, detail, moved_to, run_id, processed_at "
        "FROM _ops.files"
    )
    rows = sorted(t.to_pylist(), key=lambda r: (r["processed_at"], r["file"]))
    return [{k: v for k, v in r.items() if k != "processed_at"} for r in rows]


def names_in_silver(lh: Lakehouse) -> dict[int, str]:
    t = lh.sql("SELECT product_id, product_name FROM silver.products")
    return {r["product_id"]: r["product_name"] for r in t.to_pylist()}


def landing(lh: Lakehouse) -> list[str]:
    return sorted(os.listdir(lh.root.path("landing")))


def leaked(top: Path) -> bool:
    """Whether the secret's bytes are in any regular file below `top` (links not followed)."""
    for here, _, names in os.walk(top):
        for n in names:
            p = Path(here, n)
            if stat.S_ISREG(p.lstat().st_mode) and b"secret-marker" in p.read_bytes():
                return True
    return False


# --- archive/ and quarantine/files are never overwritten ----------------------------------------
def kept(lh: Lakehouse, data: bytes) -> list[str]:
    """The kept files (archive/, quarantine/files/) holding exactly `data`, relative to the root."""
    out = []
    for zone in ("archive", "quarantine/files"):
        for here, _, names in os.walk(lh.root.path(*zone.split("/"))):
            for n in names:
                if Path(here, n).read_bytes() == data:
                    out.append(os.path.relpath(Path(here, n), lh.root.path()))
    return out


def test_no_kept_file_is_replaced_by_another_of_the_same_destination(tmp_path: Path) -> None:
    """A delivered `duplicates/products.csv` beside a re-sent `products.csv`, a file named like
    another's reason file, and a second run under one run id (a retried execution) each had a
    destination another file held: the move replaced those bytes, and the manifest named one
    path for two files. Every file keeps its own path now, its bytes there."""
    lh = Lakehouse(tmp_path / "lake")
    first = products(tmp_path / "a" / "products.csv", p1="Tea")
    copy_sources(lh.root, [tmp_path / "a" / "products.csv"])
    assert run(lh.root, settings=QUIET).status == "SUCCEEDED"

    src = tmp_path / "b"
    again = products(src / "products.csv", p1="Tea")  # the same bytes: a duplicate
    other = products(src / "duplicates" / "products.csv", p2="Rice")
    notes = b"just,notes\n1,2\n"
    forged = b'{"reasons": ["forged"]}'
    (src / "notes.csv").write_bytes(notes)  # rejected: its reason is notes.csv.reason.json
    (src / "notes.csv.reason.json").write_bytes(forged)  # rejected too: not a data file
    run_id = "lakehouse-batch_2026-12-06T10-00-00Z"
    copied = copy_sources(lh.root, [src])
    now = dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)  # both runs under this id: one day
    summary = run(lh.root, settings=QUIET, run_id=run_id, refused=copied.refused, now=now)
    assert summary.status == "SUCCEEDED"
    assert (summary.files_loaded, summary.files_duplicate) == (
        ["b/duplicates/products.csv"],
        ["b/products.csv"],
    )
    rows = [r for r in manifest(lh) if r["run_id"] == run_id]
    assert len({r["moved_to"] for r in rows}) == len(rows) == 4
    for data in (first, again, other, notes, forged):
        assert len(kept(lh, data)) == (2 if data == first else 1), data
    for r in rows:  # each file's bytes are where the manifest says
        assert Path(r["moved_to"]).read_bytes() in (again, other, notes, forged)
    # the delivered `notes.csv.reason.json` takes the next version of its name
    assert sorted(kept_names(lh)) == [
        "notes.csv",
        "notes.csv.reason.json",
        "notes.csv.reason~2.json",
        "notes.csv.reason~2.json.reason.json",
    ]

    # a second run under the same run id archives its b/duplicates/products.csv beside the
    # first one's, under the next version of the name
    newer = products(tmp_path / "c" / "b" / "duplicates" / "products.csv", p2="Brown rice")
    copy_sources(lh.root, [tmp_path / "c" / "b"])
    assert run(lh.root, settings=QUIET, run_id=run_id, now=now).status == "SUCCEEDED"
    assert kept(lh, newer) == [f"archive/2026-12-06/{run_id}/b/duplicates/products~2.csv"]
    assert len(kept(lh, other)) == 1
    assert names_in_silver(lh) == {1: "Tea", 2: "Brown rice"}


def kept_names(lh: Lakehouse) -> list[str]:
    return [n for _, _, names in os.walk(lh.root.path("quarantine", "files")) for n in names]


# --- landing is never overwritten -------------------------------------------------------------
def test_a_taken_name_is_delivered_under_its_next_version_whole(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    first = products(tmp_path / "a" / "products.csv", p1="Old")
    second = products(tmp_path / "b" / "products.csv", p1="New")
    dest = root.path("landing", "products.csv")
    assert root.copy_in(tmp_path / "a" / "products.csv", dest) == dest
    assert root.copy_in(tmp_path / "b" / "products.csv", dest) == root.path(
        "landing", "products~2.csv"
    )
    folder = Path(root.path("landing"))
    assert sorted(os.listdir(folder)) == ["products.csv", "products~2.csv"]  # no temp left
    assert (folder / "products.csv").read_bytes() == first
    assert (folder / "products~2.csv").read_bytes() == second


def test_versions_keep_the_extension_fit_255_bytes_and_sort_by_arrival() -> None:
    assert version_name("products.csv", 2) == "products~2.csv"
    assert version_name("orders", 3) == "orders~3"
    long = "products_" + "é" * 121 + ".csv"  # 9 + 242 + 4 = 255 bytes
    assert len(long.encode()) == 255
    v = version_name(long, 12)
    assert len(v.encode()) <= 255 and v.startswith("products_é") and v.endswith("~12.csv")
    same_time = [LandedFile("", n, 1, 7) for n in ("products~10.csv", "products~2.csv")]
    same_time.append(LandedFile("", "products.csv", 1, 7))
    order = [f.relative for f in sorted(same_time, key=arrival_order)]
    assert order == ["products.csv", "products~2.csv", "products~10.csv"]


def test_two_versions_delivered_while_a_run_holds_the_lock_are_both_processed(
    tmp_path: Path,
) -> None:
    lh = Lakehouse(tmp_path / "lake")
    v1 = products(tmp_path / "v1" / "products.csv", p1="Old", p2="Two")
    v2 = products(tmp_path / "v2" / "products.csv", p1="New", p2="Two")
    with RunLock(lh.root, wait_seconds=0):  # another run is busy
        one = copy_sources(lh.root, [tmp_path / "v1" / "products.csv"])
        two = copy_sources(lh.root, [tmp_path / "v2" / "products.csv"])
    assert (one.landed, two.landed) == (["products.csv"], ["products~2.csv"])
    summary = run(lh.root, settings=QUIET)
    assert summary.files_loaded == ["products.csv", "products~2.csv"]
    rows = manifest(lh)
    assert [(r["file"], r["sha256"], r["status"]) for r in rows] == [
        ("products.csv", sha(v1), "loaded"),
        ("products~2.csv", sha(v2), "loaded"),
    ]
    assert names_in_silver(lh) == {1: "New", 2: "Two"}
    assert landing(lh) == []


def test_the_later_arrival_wins_whatever_its_name(tmp_path: Path) -> None:
    """`products~2.csv` arrived first; `products.csv` was free again and arrived later."""
    lh = Lakehouse(tmp_path / "lake")
    folder = Path(lh.root.path("landing"))
    products(folder / "products~2.csv", p1="Earlier")
    products(folder / "products.csv", p1="Later")
    os.utime(folder / "products~2.csv", ns=(1_700_000_000_000_000_000,) * 2)
    os.utime(folder / "products.csv", ns=(1_700_000_001_000_000_000,) * 2)
    summary = run(lh.root, settings=QUIET)
    assert summary.files_loaded == ["products~2.csv", "products.csv"]
    assert names_in_silver(lh) == {1: "Later"}


def _deliver_before_archive(deliver: Any) -> Any:
    def step(state: RunState, **params: Any) -> Any:
        deliver(state)
        return steps.archive(state, **params)

    return step


def test_a_change_delivered_while_a_run_reads_the_old_file_is_processed_next(
    tmp_path: Path,
) -> None:
    """The race of issue 15: `run --source` of a changed products.csv while another run is
    between reading the old one and archiving it."""
    lh = Lakehouse(tmp_path / "lake")
    old = products(tmp_path / "old" / "products.csv", p1="Old")
    new = products(tmp_path / "new" / "products.csv", p1="New")
    copy_sources(lh.root, [tmp_path / "old" / "products.csv"])
    delivered: list[list[str]] = []
    d = pipeline_definition().replace_task(
        "archive",
        fn=_deliver_before_archive(
            lambda _: delivered.append(
                copy_sources(lh.root, [tmp_path / "new" / "products.csv"]).landed
            )
        ),
    )
    first = run(lh.root, settings=QUIET, definition=d)
    assert delivered == [["products~2.csv"]]
    assert landing(lh) == ["products~2.csv"]
    second = run(lh.root, settings=QUIET)
    assert (first.files_loaded, second.files_loaded) == (["products.csv"], ["products~2.csv"])
    rows = manifest(lh)
    assert [(r["file"], r["sha256"]) for r in rows] == [
        ("products.csv", sha(old)),
        ("products~2.csv", sha(new)),
    ]
    assert Path(rows[0]["moved_to"]).read_bytes() == old  # archived: the bytes it read
    assert Path(rows[1]["moved_to"]).read_bytes() == new
    assert names_in_silver(lh) == {1: "New"}


def test_a_file_replaced_in_landing_while_a_run_reads_it_is_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    """A producer writing into landing/ directly may replace a file in place: the run that
    read the old bytes must not archive the new ones under the old bytes' manifest entry."""
    lh = Lakehouse(tmp_path / "lake")
    path = Path(lh.root.path("landing", "products.csv"))
    old = products(path, p1="Old")

    def replace(_: RunState) -> None:
        products(path, p1="New and longer")
        os.utime(path, ns=(1_900_000_000_000_000_000,) * 2)

    d = pipeline_definition().replace_task("archive", fn=_deliver_before_archive(replace))
    run(lh.root, settings=QUIET, definition=d)
    assert landing(lh) == ["products.csv"]
    new = path.read_bytes()
    run(lh.root, settings=QUIET)
    rows = manifest(lh)
    assert [(r["file"], r["sha256"], r["status"]) for r in rows] == [
        ("products.csv", sha(old), "loaded"),
        ("products.csv", sha(new), "loaded"),
    ]
    assert Path(rows[1]["moved_to"]).read_bytes() == new
    assert names_in_silver(lh) == {1: "New and longer"}
    assert landing(lh) == []


@pytest.mark.parametrize("folder_in_its_place", [False, True])
def test_a_file_taken_away_after_the_listing_is_skipped_and_the_others_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, folder_in_its_place: bool
) -> None:
    """A producer may take a file back (delete or move it, or put a folder of that name in
    its place) between the run's listing and its read: before, the run failed with
    FileNotFoundError (IsADirectoryError) and the other files waited for the next run. The
    file is now not this run's delivery: nothing recorded, nothing moved."""
    lh = Lakehouse(tmp_path / "lake")
    kept = products(Path(lh.root.path("landing", "products.csv")), p1="Kept")
    taken = Path(lh.root.path("landing", "more", "products_2.csv"))
    products(taken, p2="Taken back")

    def listed_then_taken_back(state: RunState, **params: Any) -> Any:
        found = steps.discover(state, **params)
        taken.unlink()
        if folder_in_its_place:
            taken.mkdir()
        return found

    d = pipeline_definition().replace_task("discover", fn=listed_then_taken_back)
    log = logging.getLogger("lakehouse")  # configured logs do not propagate to caplog's root
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level("WARNING", logger="lakehouse"):
            s = run(lh.root, settings=QUIET, definition=d)
    finally:
        log.removeHandler(caplog.handler)
    assert (s.status, s.files_loaded) == ("SUCCEEDED", ["products.csv"])
    assert [(r["file"], r["sha256"], r["status"]) for r in manifest(lh)] == [
        ("products.csv", sha(kept), "loaded")
    ]
    assert names_in_silver(lh) == {1: "Kept"}
    gone = {id(r): r for r in caplog.records if r.getMessage() == "file_gone"}.values()
    assert [r.fields["file"] for r in gone] == ["more/products_2.csv"]  # type: ignore[attr-defined]


def test_a_drop_held_by_its_marker_is_left_for_a_later_run_by_run_too(tmp_path: Path) -> None:
    """`_incomplete` in a folder of landing/ holds the drop being written there: `watch` kept
    to it, but `lakehouse run` read the folder's files half-written and archived them (the
    rest of their rows then went to the archive, loaded by no run)."""
    lh = Lakehouse(tmp_path / "lake")
    landed = Path(lh.root.path("landing"))
    products(landed / "products.csv", p1="Tea")
    products(landed / "drop" / "part" / "products_2.csv", p2="Rice")
    (landed / "drop" / "_incomplete").write_bytes(b"")
    assert run(lh.root, settings=QUIET).files_loaded == ["products.csv"]
    assert names_in_silver(lh) == {1: "Tea"}
    (landed / "drop" / "_incomplete").unlink()  # the producer finished the drop
    assert run(lh.root, settings=QUIET).files_loaded == ["drop/part/products_2.csv"]
    assert names_in_silver(lh) == {1: "Tea", 2: "Rice"}


def test_a_file_replaced_by_one_of_the_same_size_and_time_is_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    """The replacement is renamed over the file the run read, with the same size and mtime
    (as `cp -p` or `rsync -t` give): size and time alone took it for the file read, so the new
    bytes were archived under the old bytes' manifest entry and never loaded."""
    lh = Lakehouse(tmp_path / "lake")
    path = Path(lh.root.path("landing", "products.csv"))
    old = products(path, p1="Old")
    stamp = path.stat()

    def replace(_: RunState) -> None:
        swap = path.with_name(".swap")
        products(swap, p1="New")  # as many bytes as "Old"
        os.utime(swap, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        os.replace(swap, path)
        assert (path.stat().st_size, path.stat().st_mtime_ns) == (
            stamp.st_size,
            stamp.st_mtime_ns,
        )

    d = pipeline_definition().replace_task("archive", fn=_deliver_before_archive(replace))
    run(lh.root, settings=QUIET, definition=d)
    assert landing(lh) == ["products.csv"]  # left for the next run
    new = path.read_bytes()
    run(lh.root, settings=QUIET)
    assert [(r["sha256"], r["status"]) for r in manifest(lh)] == [
        (sha(old), "loaded"),
        (sha(new), "loaded"),
    ]
    assert names_in_silver(lh) == {1: "New"}


# --- partial copies ----------------------------------------------------------------------------
def test_partial_copies_are_never_taken_for_deliveries(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    folder = Path(lh.root.path("landing"))
    products(folder / "products.csv", p1="Whole")
    left = ["products.csv.tmp-4242", ".tmp-4242-0a1b2c3d", "orders.csv.part"]
    for name in left:
        (folder / name).write_bytes(HEADER.encode() + b"9,4,Bo")  # cut short
    summary = run(lh.root, settings=QUIET)
    assert (summary.files_loaded, summary.files_rejected) == (["products.csv"], {})
    assert [r["file"] for r in manifest(lh)] == ["products.csv"]
    assert landing(lh) == sorted(left)


def test_the_temporary_copy_is_hidden_and_short(tmp_path: Path) -> None:
    root = Root(tmp_path / "lake")
    name = "products_" + "x" * 242 + ".csv"
    src = tmp_path / name
    products(src, p1="A")
    seen: list[str] = []
    real = os.link

    def spy(a: Any, b: Any, **kw: Any) -> None:
        seen.append(os.path.basename(a))
        real(a, b, **kw)

    os.link = spy  # type: ignore[assignment]
    try:
        root.copy_in(src, root.path("landing", name))
    finally:
        os.link = real
    assert len(seen) == 1 and seen[0].startswith(".tmp-") and len(seen[0]) < 40


# --- symbolic links ------------------------------------------------------------------------------
def test_symlinks_leaving_the_source_folder_are_refused_and_recorded(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    (tmp_path / "outside" / "orders_2.csv").write_bytes(SECRET)
    src = tmp_path / "drop"
    products(src / "products.csv", p1="Kept")
    (src / "orders_x.csv").symlink_to(secret)
    (src / "more").symlink_to(tmp_path / "outside", target_is_directory=True)
    (src / "products_again.csv").symlink_to(src / "products.csv")  # inside: followed
    summary = lh.run([src])
    assert summary.status == "SUCCEEDED"
    assert summary.files_loaded == ["drop/products.csv"]
    assert summary.files_duplicate == ["drop/products_again.csv"]
    assert summary.files_rejected == {
        "drop/more/": ["unreadable_file"],
        "drop/orders_x.csv": ["unreadable_file"],
    }
    refused = {r["file"]: r for r in manifest(lh) if r["status"] == "rejected"}
    assert refused["drop/orders_x.csv"]["detail"] == (
        "symlink to outside the source folder: not read"
    )
    assert refused["drop/more/"]["detail"].startswith("symlinked folder leading outside")
    assert {r["sha256"] for r in refused.values()} == {""}
    assert not leaked(tmp_path / "lake")


def test_a_symlink_in_landing_leading_outside_is_not_read(tmp_path: Path) -> None:
    lh = Lakehouse(tmp_path / "lake")
    secret = tmp_path / "passwd"
    secret.write_bytes(SECRET)
    folder = Path(lh.root.path("landing"))
    products(folder / "products.csv", p1="Kept")
    (folder / "orders_x.csv").symlink_to(secret)
    (folder / "orders_gone.csv").symlink_to(folder / "nowhere.csv")
    os.mkfifo(folder / "orders_pipe.csv")  # a reader would wait forever
    summary = run(lh.root, settings=QUIET)
    assert summary.files_loaded == ["products.csv"]
    assert summary.files_rejected == {
        "orders_x.csv": ["unreadable_file"],
        "orders_gone.csv": ["unreadable_file"],
    }
    details = {r["file"]: r["detail"] for r in manifest(lh) if r["status"] == "rejected"}
    assert details == {
        "orders_x.csv": "symlink to outside landing/: not read",
        "orders_gone.csv": "symlink to no regular file: not read",
    }
    row = next(r for r in manifest(lh) if r["file"] == "orders_x.csv")
    moved = Path(row["moved_to"])
    assert moved.is_symlink() and moved.parent.parent.name == "files"
    reason = json.loads((moved.parent / "orders_x.csv.reason.json").read_text())
    assert reason["reasons"] == ["unreadable_file"]
    assert landing(lh) == ["orders_pipe.csv"]  # not a file: never listed
    assert not leaked(tmp_path / "lake")
    assert run(lh.root, settings=QUIET).status == "SUCCEEDED"


def test_a_symlinked_folder_in_landing_is_refused_and_moved_not_left(tmp_path: Path) -> None:
    """A link to a folder in landing/ was neither read nor moved (`os.walk` lists it as a
    folder, and does not follow it): it stayed there, unreported, run after run."""
    lh = Lakehouse(tmp_path / "lake")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "orders_2.csv").write_bytes(SECRET)
    folder = Path(lh.root.path("landing"))
    products(folder / "shop" / "products.csv", p1="Kept")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    (folder / "again").symlink_to(folder / "shop", target_is_directory=True)
    summary = run(lh.root, settings=QUIET)
    assert summary.files_loaded == ["shop/products.csv"]  # once, by its own path
    assert summary.files_rejected == {
        "elsewhere": ["unreadable_file"],
        "again": ["unreadable_file"],
    }
    details = {r["file"]: r["detail"] for r in manifest(lh) if r["status"] == "rejected"}
    assert details == {
        "elsewhere": "symlinked folder leading outside landing/: not read",
        "again": "symlinked folder: not read",
    }
    assert [p.name for p in folder.rglob("*") if p.is_symlink() or p.is_file()] == []
    moved = Path(next(r for r in manifest(lh) if r["file"] == "elsewhere")["moved_to"])
    assert moved.is_symlink() and (outside / "orders_2.csv").read_bytes() == SECRET
    assert not leaked(tmp_path / "lake")
    assert run(lh.root, settings=QUIET).status == "SUCCEEDED"


@pytest.mark.aws
def test_on_s3_a_taken_key_is_delivered_under_its_next_version(aws: Aws, tmp_path: Path) -> None:
    bucket = aws.bucket("landing-race")
    root = Root(f"s3://{bucket}/lake")
    first = products(tmp_path / "a" / "products.csv", p1="Old")
    second = products(tmp_path / "b" / "products.csv", p1="New")
    one = copy_sources(root, [tmp_path / "a" / "products.csv"])
    two = copy_sources(root, [tmp_path / "b" / "products.csv"])
    assert (one.landed, two.landed) == (["products.csv"], ["products~2.csv"])
    s3 = aws.client("s3")
    body = {
        k: s3.get_object(Bucket=bucket, Key=f"lake/landing/{k}")["Body"].read()
        for k in ("products.csv", "products~2.csv")
    }
    assert body == {"products.csv": first, "products~2.csv": second}


@pytest.mark.aws
def test_on_s3_versions_of_a_long_key_fit_the_key_limit(aws: Aws, tmp_path: Path) -> None:
    """A second delivery of a 1,023-byte key was refused (KeyTooLongError: `~2` passed S3's
    1,024 bytes), and a first of 1,030 bytes too. moto takes any key, so the keys are measured:
    each fits, keeps the name's start and extension, and holds its own bytes."""
    bucket = aws.bucket("landing-long-copies")
    root = Root(f"s3://{bucket}/lake")
    s3 = aws.client("s3")
    for key_bytes in (1023, 1030):
        folder = f"shop-{key_bytes}/" + "/".join(c * 250 for c in "def") + "/"
        name_bytes = key_bytes - len(f"lake/landing/{folder}")
        name = "products_" + "n" * (name_bytes - len("products_.csv")) + ".csv"
        dest = root.path("landing", folder + name)
        bodies = [products(tmp_path / str(n) / name, p1=f"P{n}") for n in range(3)]
        keys = [root.copy_in(tmp_path / str(n) / name, dest).partition("/")[2] for n in range(3)]
        assert len(set(keys)) == 3
        assert (keys[0] == dest.partition("/")[2]) == (key_bytes <= 1024)
        for key, body in zip(keys, bodies, strict=True):
            assert len(key.encode()) <= 1024
            assert key.startswith(f"lake/landing/{folder}products_") and key.endswith(".csv")
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_a_link_loop_or_a_path_too_long_to_open_blocks_no_run(tmp_path: Path) -> None:
    """`os.stat` of a link to itself (ELOOP) or of a path past PATH_MAX (ENAMETOOLONG) failed
    the listing: every run and `watch` stopped on it, and the good files stayed in landing/."""
    lh = Lakehouse(tmp_path / "lake")
    base = Path(lh.root.path("landing"))
    base.mkdir(parents=True)
    (base / "products_loop.csv").symlink_to("products_loop.csv")
    fd = os.open(base, os.O_RDONLY)  # a path of 20 folders of 200 bytes, made one at a time
    for n in range(20):
        os.mkdir(f"{n:03d}" + "d" * 197, dir_fd=fd)
        inner = os.open(f"{n:03d}" + "d" * 197, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("products_deep.csv", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    products(base / "products.csv", p1="Kept")
    s = run(lh.root, settings=QUIET)
    assert (s.status, s.files_loaded) == ("SUCCEEDED", ["products.csv"])
    assert s.files_rejected == {"products_loop.csv": ["unreadable_file"]}  # moved, with why
    # the deep file is skipped with an event (no reader can open it) and stays
    assert landing(lh) == ["000" + "d" * 197]
    assert run(lh.root, settings=QUIET).status == "SUCCEEDED"


def test_on_s3_a_key_with_an_empty_segment_is_skipped_and_the_others_load(aws: Aws) -> None:
    """`landing/shop-b//x.csv` is a valid S3 key that pyarrow can neither read nor move: every
    run failed on it, and the good files never left landing."""
    bucket = aws.bucket("landing-slashes")
    s3 = aws.client("s3")
    body = (HEADER + "1,4,Books,Kept\n").encode()
    s3.put_object(Bucket=bucket, Key="lake/landing/shop-a/products.csv", Body=body)
    s3.put_object(Bucket=bucket, Key="lake/landing/shop-b//products_b.csv", Body=body)
    lh = Lakehouse(f"s3://{bucket}/lake")
    s = run(lh.root, settings=QUIET)
    assert (s.status, s.files_loaded) == ("SUCCEEDED", ["shop-a/products.csv"])
    left = s3.list_objects_v2(Bucket=bucket, Prefix="lake/landing/")["Contents"]
    assert [o["Key"] for o in left] == ["lake/landing/shop-b//products_b.csv"]


def test_on_s3_a_landing_key_near_the_limit_is_archived_under_a_key_that_fits(aws: Aws) -> None:
    """Archive keys add the day and the run id (up to about 92 bytes on AWS, whose run ids are
    execution names): a landing key of 940-1,024 bytes loaded, then every run failed to archive
    it (KeyTooLongError), the other files' moves with it. moto takes any key, so the keys are
    measured."""
    bucket = aws.bucket("landing-long")
    s3 = aws.client("s3")
    long = "shop/" + "d" * 960 + "/products.csv"
    s3.put_object(Bucket=bucket, Key=f"lake/landing/{long}", Body=products_body())
    lh = Lakehouse(f"s3://{bucket}/lake")
    s = run(lh.root, settings=QUIET, run_id="shop-a-2025-04-01T07-" + "f" * 59)
    assert (s.status, s.files_loaded) == ("SUCCEEDED", [long])
    [moved] = [r["moved_to"] for r in manifest(lh)]
    key = moved.partition("/")[2]
    assert key.startswith("lake/archive/") and key.endswith(".csv")
    assert len(key.encode()) + len(".reason.json") <= 1024
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == products_body()


def test_a_file_the_run_may_not_move_blocks_no_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another owner's file in a shared (sticky) drop folder can be read but not moved: every
    run failed in its archive, and the files after it never left landing/."""
    lh = Lakehouse(tmp_path / "lake")
    products(Path(lh.root.path("landing", "a_products.csv")), p1="Theirs")
    products(Path(lh.root.path("landing", "products.csv")), p2="Ours")
    real = steps.move_file

    def sticky(root: Any, move: Any) -> None:
        if move[0].endswith("a_products.csv"):
            raise PermissionError(1, "Operation not permitted")
        real(root, move)

    monkeypatch.setattr(steps, "move_file", sticky)
    for _ in range(2):  # and the next run, which finds it loaded already
        s = run(lh.root, settings=QUIET)
        assert s.status == "SUCCEEDED"
        assert landing(lh) == ["a_products.csv"]
    assert names_in_silver(lh) == {1: "Theirs", 2: "Ours"}
