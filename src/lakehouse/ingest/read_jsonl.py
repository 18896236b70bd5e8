"""Read a JSON lines file (one object per line) into one batch of text: Arrow's reader when it
keeps every value exactly (its integer columns marked as written from typed values,
`Batch.canonical`, as a Parquet file's are), a line-by-line reader otherwise; a key named twice
in one object rejects the file (Arrow's reader refuses it, at any depth; the line-by-line reader
checks it first)."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from lakehouse.config.settings import IntakeSettings
from lakehouse.ingest.batch import (
    ROW,
    Batch,
    check_header,
    check_width,
    exact_float_text,
    normalise_header,
    typed_batch,
)


def read_jsonl(data: bytes, limits: IntakeSettings) -> list[Batch]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.splitlines()
    if any(not line.strip() for line in lines) or not lines:
        return _read_jsonl_slow(lines, limits)
    try:
        table = pajson.read_json(io.BytesIO(data))
        inferred = [f.name for f in table.schema if pa.types.is_temporal(f.type)]
        if inferred:  # Arrow parses ISO strings into timestamps: read those columns as text
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if f.name in inferred else f for f in table.schema]
            )
            opts = pajson.ParseOptions(explicit_schema=schema)
            table = pajson.read_json(io.BytesIO(data), parse_options=opts)
    except pa.ArrowInvalid:
        return _read_jsonl_slow(lines, limits)
    if (
        table.num_rows != len(lines)
        or any(pa.types.is_nested(t) for t in table.schema.types)
        or any(_may_be_rounded(col) for col in table.columns)
    ):
        return _read_jsonl_slow(lines, limits)
    check_header(table.column_names, "keys", limits)
    return [typed_batch(table)]  # JSON numbers Arrow read as integers are typed values


def _may_be_rounded(col: pa.ChunkedArray) -> bool:
    """A float column holding a whole number past 2**53 may be a large integer Arrow rounded."""
    if not pa.types.is_floating(col.type):
        return False
    return bool(pc.any(pc.greater_equal(pc.abs(col), 2.0**53)).as_py())


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _RepeatedKey(f"key {twice!r} appears twice in one object")
    return found


def _no_repeated_keys(lines: list[bytes]) -> None:
    """A JSON object naming a key twice would keep only one of its values: reject the file.

    One parse of the whole file (as an array) is cheap; the line is found only when needed.
    """
    try:
        json.loads(
            b"[" + b",".join(ln for ln in lines if ln.strip()) + b"]",
            object_pairs_hook=_unique_keys,
        )
    except _RepeatedKey:
        for number, line in enumerate(lines, start=1):
            try:
                json.loads(line, object_pairs_hook=_unique_keys) if line.strip() else None
            except _RepeatedKey as exc:
                raise ValueError(f"line {number}: {exc}") from None
    except json.JSONDecodeError:
        pass  # the reader below names the line that is not valid JSON


def _read_jsonl_slow(lines: list[bytes], limits: IntakeSettings) -> list[Batch]:
    _no_repeated_keys(lines)  # Arrow's reader refuses a key named twice; `json` keeps the last
    records: list[tuple[int, dict[str, object]]] = []
    header: dict[str, None] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        header.update(dict.fromkeys(obj))
        if len(header) > limits.max_columns:
            check_width(len(header), "keys", limits)
        records.append((number, obj))
    if not header:
        raise ValueError("no JSON objects")
    keys = list(header)
    check_header(keys, "keys", limits)
    arrays = [pa.array([_json_text(obj.get(k)) for _, obj in records], pa.string()) for k in keys]
    names = [normalise_header(c) for c in keys]
    rows = pa.array([n for n, _ in records], pa.int64())
    return [Batch("", 0, keys, pa.table([*arrays, rows], names=[*names, ROW]))]


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return exact_float_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
