"""Operations settings: typed, layered — defaults < `lakehouse.toml` < `LAKEHOUSE__SECTION__KEY`.

The file is `ROOT/lakehouse.toml`, or the one named by `--config` / `LAKEHOUSE_CONFIG`:

```toml
[pipeline]
max_parallel = 2              # entity steps run side by side (1 = one after another)

[sla]
max_run_seconds = 900         # a longer run raises a `run_duration` alert
[sla.tables.orders]           # silver.orders; defaults come from the contract
freshness_minutes = 60        # newest loaded file may be at most this old
max_reject_rate = 0.05        # share of a run's new rows quarantined

[gold]                        # how stale a "budget" gold model may get (docs/architecture.md)
staleness_minutes = 15        # global analyses refresh once silver has moved on this long
[gold.models.product_pairs]   # one model's own budget (0 = every run)
staleness_minutes = 60

[lock]
stale_seconds = 60            # a lock not refreshed for this long is taken over
wait_seconds = 900            # how long a run waits for another run to finish

[watch]
poll_seconds = 0.25           # size checks; a file is complete after `stable_polls` equal sizes
settle_seconds = 0            # and unmodified this long (producers that write in place)
batch_window_seconds = 0.5    # files that become complete within this window share a run

[notify]
repeat_minutes = 0            # re-send an alert still open after this long (0 = never)

[intake]                      # limits on one delivered file; a file over any is rejected whole
max_decompressed_bytes = 2147483648  # xlsx: sum of the zip members' uncompressed sizes
max_cells = 50000000          # xlsx: cells in one sheet's used range (the reader allocates each)
max_columns = 1000            # header columns (or JSON keys) of one file or sheet
max_field_bytes = 1048576     # UTF-8 bytes of one value (cell, field, JSON value)
max_seconds_per_file = 600    # wall-clock time to read one file
max_reader_memory_bytes = 8589934592  # address space of the process that reads one file

[lineage]                     # OpenLineage run events (docs/catalog.md)
transport = "file"            # file | http | console | off
path = "_ops/lineage/events.jsonl"  # file: below the root (s3: one object per run beside it)
url = "http://localhost:5000" # http: the collector (Marquez, DataHub ...); POST to url/endpoint
timeout_seconds = 2           # http: one attempt; a collector that fails is skipped for the run

[notifiers.ops]               # any name; type = console | file | webhook | sns
type = "webhook"
url = "https://hooks.example.com/T000/B000"
```
Environment variables override any key: `LAKEHOUSE__SLA__MAX_RUN_SECONDS=600`,
`LAKEHOUSE__NOTIFIERS__OPS__URL=...`. Values that may hold credentials (webhook `url` and
`headers`) are `Secret`s: printed as `***`, revealed only where they are used.
"""
