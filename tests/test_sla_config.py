"""Settings are typed and layered (defaults < lakehouse.toml < LAKEHOUSE__SECTION__KEY); errors
name the setting and where it came from; secrets are never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.config import ConfigError, Secret, Settings, load
from lakehouse.contracts import load_contracts
from lakehouse.storage import Root

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
    with pytest.raises(ConfigError, match="no such file"):
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
        ("[sla]\nmax_run_secs = 5\n", "unknown setting sla.max_run_secs"),
        ("[slas]\n", "unknown section(s) ['slas']"),
        ("[watch]\npoll_seconds = 'fast'\n", "watch.poll_seconds must be a number"),
        ("[watch]\nevents = 1\n", "watch.events must be true or false"),
        ("[lock]\nstale_seconds = -1\n", "lock.stale_seconds must be >= 0"),
        ("[notifiers.x]\ntype = 'pigeon'\n", "notifiers.x.type must be one of"),
        ("[notifiers.x]\ntype = 'webhook'\n", "notifiers.x (webhook) needs url"),
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
    with pytest.raises(ConfigError, match=r"environment: unknown setting watch\.pol"):
        load(None, env={"LAKEHOUSE__WATCH__POL": "1"})


def test_without_notifiers_the_console_is_used() -> None:
    assert [n.type for n in load(None, env={}).notifiers] == ["console"]
    assert Settings().notifiers[0].type == "console"
