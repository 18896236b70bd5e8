"""Settings are typed and layered (defaults < lakehouse.toml < LAKEHOUSE__SECTION__KEY); errors
name the setting and where it came from; secrets are never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.config.loader import ConfigError, load
from lakehouse.config.settings import Secret, Settings
from lakehouse.contracts import load_contracts
from lakehouse.store.root import Root

FILE = """
[sla]
max_run_seconds = 300
[sla.tables.orders]
freshness_minutes = 30

[watch]
poll_seconds = 1

[notifiers.pager]
type = "webhook"
url = "https://hooks.example.com/services/T0/B0/s3cr3t"
headers = { Authorization = "Bearer tok-123" }
retries = 5
"""


def root_with(tmp_path: Path, text: str) -> Root:
    root = Root(tmp_path / "lake")
    Path(root.uri).mkdir(parents=True)
    Path(root.path("lakehouse.toml")).write_text(text)
    return root


def test_defaults_then_file_then_environment(tmp_path: Path) -> None:
    root = root_with(tmp_path, FILE)
    contracts = load_contracts()
    assert load(None, env={}).sla.max_run_seconds == 900
    s = load(root, env={})
    assert s.sla.max_run_seconds == 300 and s.watch.poll_seconds == 1.0
    assert s.watch.batch_window_seconds == 0.5  # untouched default
    assert s.sla.freshness_minutes("orders", contracts["orders"]) == 30
    assert s.sla.freshness_minutes("products", contracts["products"]) == 1440  # the contract
    assert s.sla.max_reject_rate("orders", contracts["orders"]) == 0.05
    env = {
        "LAKEHOUSE__SLA__MAX_RUN_SECONDS": "120",
        "LAKEHOUSE__SLA__TABLES__ORDERS__MAX_REJECT_RATE": "0.2",
        "LAKEHOUSE__WATCH__EVENTS": "false",
        "LAKEHOUSE__NOTIFIERS__PAGER__RETRIES": "1",
        "LAKEHOUSE_ROOT": "/elsewhere",  # one underscore: not a setting
    }
    s = load(root, env=env)
    assert s.sla.max_run_seconds == 120.0 and s.watch.events is False
    assert s.sla.max_reject_rate("orders", contracts["orders"]) == 0.2
    assert s.sla.freshness_minutes("orders", contracts["orders"]) == 30  # file value kept
    (pager,) = s.notifiers
    assert pager.retries == 1 and pager.type == "webhook"
    assert s.sources == (f"{root.uri}/lakehouse.toml", "environment")


def test_config_option_wins_over_the_roots_file(tmp_path: Path) -> None:
    root = root_with(tmp_path, FILE)
    other = tmp_path / "other.toml"
    other.write_text("[sla]\nmax_run_seconds = 42\n")
    assert load(root, other, env={}).sla.max_run_seconds == 42
    assert load(root, env={"LAKEHOUSE_CONFIG": str(other)}).sla.max_run_seconds == 42
    with pytest.raises(ConfigError, match=r"missing\.toml: no such settings file$"):
        load(root, tmp_path / "missing.toml", env={})


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    s = load(root_with(tmp_path, FILE), env={})
    (pager,) = s.notifiers
    assert isinstance(pager.url, Secret)
    assert pager.url.reveal().endswith("s3cr3t")
    shown = json.dumps(s.redacted()) + repr(s) + str(pager)
    assert "s3cr3t" not in shown and "tok-123" not in shown
    assert s.redacted()["notifiers"][0]["url"] == "***"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # `tables` is a setting too (read apart): the hint left it out
        ("[sla]\nmax_run_secs = 5\n", "sla.max_run_secs; known: ['max_run_seconds', 'tables']"),
        ("[slas]\n", "unknown section(s) ['slas']"),
        ("[watch]\npoll_seconds = 'fast'\n", "watch.poll_seconds must be a number"),
        ("[watch]\nevents = 1\n", "watch.events must be true or false"),
        ("[lock]\nstale_seconds = -1\n", "lock.stale_seconds = -1 is refused; must be > 0"),
        ("[notifiers.x]\ntype = 'pigeon'\n", "notifiers.x.type must be one of"),
        ("[notifiers.x]\ntype = 'webhook'\n", "notifiers.x (webhook) needs url"),
        ("[notifiers.x]\ntype = 'webhook'\nurl = 'not a url'\n", "notifiers.x (webhook) needs url"),
        ("[notifiers.x]\ntype = 'sns'\n", "notifiers.x (sns) needs topic_arn"),
        ("[sla\n", "not valid TOML"),
    ],
)
def test_errors_name_the_setting_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    root = root_with(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(root, env={})
    assert message in str(err.value)
    assert "lakehouse.toml" in str(err.value)


def test_env_errors_say_environment() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^environment variable LAKEHOUSE__WATCH__POL: unknown setting watch\.pol;",
    ):
        load(None, env={"LAKEHOUSE__WATCH__POL": "1"})


def test_without_notifiers_the_console_is_used() -> None:
    assert [n.type for n in load(None, env={}).notifiers] == ["console"]
    assert Settings().notifiers[0].type == "console"


def number_keys() -> list[str]:
    """Every number setting, as `section.key` (notifier keys under a webhook named `x`)."""
    from dataclasses import fields

    from lakehouse.config.loader import _SECTIONS
    from lakehouse.config.settings import NotifierSettings, SlaSettings, TableObjective

    def numeric(cls: type, prefix: str, skip: tuple[str, ...] = ()) -> list[str]:
        return [
            f"{prefix}.{f.name}"
            for f in fields(cls)
            if f.name not in skip and (f.type in ("int", "float", "float | None"))
        ]

    keys = [k for name, cls in _SECTIONS.items() for k in numeric(cls, name)]
    keys += numeric(SlaSettings, "sla") + numeric(TableObjective, "sla.tables.orders")
    return keys + numeric(NotifierSettings, "notifiers.x")


def toml_for(key: str, value: str) -> str:
    section, name = key.rsplit(".", 1)
    extra = (
        "type = 'webhook'\nurl = 'https://h.example'\n" if section.startswith("notifiers") else ""
    )
    return f"[{section}]\n{extra}{name} = {value}\n"


def test_every_number_setting_is_checked() -> None:
    keys = number_keys()
    assert len(keys) == 32  # a new number setting shows up here: give it bounds if 0.. is wrong
    assert {"pipeline.max_parallel", "sla.tables.orders.max_reject_rate"} <= set(keys)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_nan_and_infinity_are_refused_for_every_number(tmp_path: Path, value: str) -> None:
    for key in number_keys():
        root = root_with(tmp_path / key, toml_for(key, value))
        with pytest.raises(ConfigError) as err:
            load(root, env={})
        assert str(err.value).startswith(f"{root.uri}/lakehouse.toml: {key} = {value} is refused")


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("sla.tables.orders.max_reject_rate", "5", "must be between 0 and 1"),
        ("sla.tables.orders.max_reject_rate", "-0.1", "must be between 0 and 1"),
        ("sla.tables.orders.freshness_minutes", "-5", "must be >= 0"),
        ("lock.stale_seconds", "0", "must be > 0"),
        ("pipeline.max_parallel", "0", "must be >= 1"),
        # 1 byte failed every run as "the reader's scratch folder ...: File too large"
        ("intake.max_reader_memory_bytes", "1", "must be >= 67,108,864"),
        ("pipeline.chunk_rows", "0", "must be >= 1"),
        ("watch.stable_polls", "0", "must be >= 1"),
        ("watch.poll_seconds", "0", "must be > 0"),
        ("lock.heartbeat_seconds", "0", "must be > 0"),
        ("notify.repeat_minutes", "-1", "must be >= 0"),
        ("notifiers.x.timeout_seconds", "0", "must be > 0"),
    ],
)
def test_out_of_range_values_are_refused_naming_key_value_range_and_file(
    tmp_path: Path, key: str, value: str, allowed: str
) -> None:
    root = root_with(tmp_path, toml_for(key, value))
    with pytest.raises(ConfigError) as err:
        load(root, env={})
    assert str(err.value) == f"{root.uri}/lakehouse.toml: {key} = {value} is refused; {allowed}"


def test_the_edges_of_a_range_are_accepted(tmp_path: Path) -> None:
    text = (
        "[pipeline]\nmax_parallel = 1\nchunk_rows = 1.0\n[notify]\nrepeat_minutes = 0\n"
        "[sla.tables.orders]\nmax_reject_rate = 1\n[sla.tables.products]\nmax_reject_rate = 0\n"
    )
    s = load(root_with(tmp_path, text), env={})
    assert (s.pipeline.max_parallel, s.pipeline.chunk_rows, s.notify.repeat_minutes) == (1, 1, 0)
    assert isinstance(s.pipeline.chunk_rows, int)
    assert s.sla.max_reject_rate("orders", None) == 1.0
    assert s.sla.max_reject_rate("products", None) == 0.0


def test_a_fraction_for_a_count_is_refused_not_rounded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(root_with(tmp_path, "[pipeline]\nmax_parallel = 2.5\n"), env={})
    assert str(err.value).endswith(": pipeline.max_parallel must be a whole number, got 2.5")


def test_an_unknown_sla_table_is_refused_with_the_known_names(tmp_path: Path) -> None:
    root = root_with(tmp_path, "[sla.tables.ordres]\nmax_reject_rate = 0.1\n")
    with pytest.raises(ConfigError) as err:
        load(root, env={})
    assert str(err.value) == (
        f"{root.uri}/lakehouse.toml: unknown table sla.tables.ordres; "
        "known: ['order_items', 'orders', 'products']"
    )
    with pytest.raises(
        ConfigError,
        match=r"^environment variable LAKEHOUSE__SLA__TABLES__X: unknown table sla\.tables\.x;",
    ):
        load(None, env={"LAKEHOUSE__SLA__TABLES__X__MAX_REJECT_RATE": "0.1"})
    # the names come from the contracts in use
    assert load(root, env={}, entities=["ordres"]).sla.tables["ordres"].max_reject_rate == 0.1


def test_the_message_names_the_layer_that_set_the_bad_value(tmp_path: Path) -> None:
    root = root_with(tmp_path, "[sla.tables.orders]\nmax_reject_rate = 0.5\n")
    env = {"LAKEHOUSE__SLA__TABLES__ORDERS__MAX_REJECT_RATE": "nan"}
    with pytest.raises(ConfigError) as err:
        load(root, env=env)
    assert str(err.value) == (
        "environment variable LAKEHOUSE__SLA__TABLES__ORDERS__MAX_REJECT_RATE: "
        "sla.tables.orders.max_reject_rate = nan is refused; must be between 0 and 1"
    )
    root = root_with(tmp_path / "b", "[watch]\nstable_polls = 0\n")
    with pytest.raises(ConfigError, match=r"lakehouse.toml: watch.stable_polls = 0 is refused"):
        load(root, env={"LAKEHOUSE__SLA__MAX_RUN_SECONDS": "60"})


def test_errors_under_lakehouse_config_name_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as err:
        load(None, env={"LAKEHOUSE_CONFIG": str(missing)})
    assert str(err.value) == (
        f"{missing} (LAKEHOUSE_CONFIG): no such settings file; "
        "unset LAKEHOUSE_CONFIG or point it at a settings file"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[sla]\nmax_run_seconds = inf\n")
    with pytest.raises(ConfigError) as err:
        load(None, env={"LAKEHOUSE_CONFIG": str(bad)})
    assert str(err.value).startswith(f"{bad} (LAKEHOUSE_CONFIG): sla.max_run_seconds = inf")


def test_run_under_a_bad_lakehouse_config_says_so_without_a_config_flag(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text("[sla.tables.ordres]\nfreshness_minutes = 5\n")
    env = {**os.environ, "LAKEHOUSE_CONFIG": str(bad)}
    (tmp_path / "lake").mkdir()  # a root (`status` refuses a folder that does not exist)
    for command in (["run"], ["status"]):
        p = subprocess.run(
            [sys.executable, "-m", "lakehouse", *command, "--root", str(tmp_path / "lake")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert p.returncode != 0
        assert f"{bad} (LAKEHOUSE_CONFIG): unknown table sla.tables.ordres" in p.stderr
        assert "--config" not in p.stderr
