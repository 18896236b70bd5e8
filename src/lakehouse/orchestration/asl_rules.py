"""Structural rules of Amazon States Language (JSONPath mode) that Step Functions enforces when
a state machine is created: `problems(doc)` lists every violation (empty = valid).

Checked: top-level and per-type fields, state names, exactly one of Next/End, every transition
target exists in its scope, every state is reachable, Choice rules, Retry/Catch shapes
(`States.ALL` alone and last, integer intervals, backoff ≥ 1), Parallel branches recursively,
and `.$` keys holding paths or intrinsic functions.
"""

from __future__ import annotations

from typing import Any

TOP_FIELDS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}
COMMON = {"Type", "Comment", "InputPath", "OutputPath", "QueryLanguage"}
FIELDS = {
    "Task": COMMON
    | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Next", "End"}
    | {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"}
    | {"Credentials", "Assign"},
    "Parallel": COMMON
    | {"Branches", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Next", "End"}
    | {"Assign"},
    "Choice": COMMON | {"Choices", "Default", "Assign"},
    "Pass": COMMON | {"Result", "ResultPath", "Parameters", "Next", "End", "Assign"},
    "Wait": COMMON | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath", "Next", "End"},
    "Succeed": COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath", "QueryLanguage"},
    "Map": COMMON
    | {"ItemsPath", "ItemProcessor", "Iterator", "ItemSelector", "Parameters", "MaxConcurrency"}
    | {"ResultPath", "ResultSelector", "Retry", "Catch", "Next", "End", "ItemReader"}
    | {"ResultWriter", "ItemBatcher", "ToleratedFailurePercentage", "ToleratedFailureCount"}
    | {"Label", "Assign"},
}
COMPARATORS = (
    {
        f"{kind}{op}{suffix}"
        for kind in ("String", "Numeric", "Timestamp")
        for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
        for suffix in ("", "Path")
    }
    | {"BooleanEquals", "BooleanEqualsPath", "StringMatches"}
    | {f"Is{t}" for t in ("Null", "Present", "Numeric", "String", "Boolean", "Timestamp")}
)


def problems(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    extra = set(doc) - TOP_FIELDS
    if extra:
        out.append(f"top level: unknown fields {sorted(extra)}")
    if "TimeoutSeconds" in doc and not _pos_int(doc["TimeoutSeconds"]):
        out.append("top level: TimeoutSeconds must be a positive integer")
    _machine(doc, "", out)
    return out


def _machine(doc: dict[str, Any], where: str, out: list[str]) -> None:
    states = doc.get("States")
    start = doc.get("StartAt")
    if not isinstance(states, dict) or not states:
        out.append(f"{where or 'top level'}: States must be a non-empty object")
        return
    if start not in states:
        out.append(f"{where or 'top level'}: StartAt {start!r} is not a state")
    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        at = f"{where}{name}"
        if not 1 <= len(name) <= 80:
            out.append(f"{at}: state names must be 1..80 characters")
        if not isinstance(state, dict):
            out.append(f"{at}: a state must be an object")
            continue
        edges[name] = _state(state, at, out)
        for target in edges[name]:
            if target not in states:
                out.append(f"{at}: transition to {target!r}, which is not a state in its scope")
    seen: set[str] = set()
    todo = [start] if isinstance(start, str) else []
    while todo:
        n = todo.pop()
        if n in seen or n not in edges:
            continue
        seen.add(n)
        todo.extend(edges[n])
    for name in states:
        if name not in seen:
            out.append(f"{where}{name}: unreachable from StartAt")


def _state(s: dict[str, Any], at: str, out: list[str]) -> list[str]:
    kind = s.get("Type")
    if kind not in FIELDS:
        out.append(f"{at}: unknown Type {kind!r}")
        return []
    extra = set(s) - FIELDS[kind]
    if extra:
        out.append(f"{at}: fields not allowed in a {kind} state: {sorted(extra)}")
    targets: list[str] = []
    if kind in ("Task", "Parallel", "Pass", "Wait", "Map"):
        if ("Next" in s) == bool(s.get("End")):
            out.append(f"{at}: exactly one of Next or End: true")
        if "Next" in s:
            targets.append(s["Next"])
    if kind == "Task" and not isinstance(s.get("Resource"), str):
        out.append(f"{at}: Task needs a Resource string")
    for key in ("TimeoutSeconds", "HeartbeatSeconds", "Seconds"):
        if key in s and not _pos_int(s[key]):
            out.append(f"{at}: {key} must be a positive integer")
    if kind == "Choice":
        choices = s.get("Choices")
        if not isinstance(choices, list) or not choices:
            out.append(f"{at}: Choice needs a non-empty Choices list")
            choices = []
        for i, rule in enumerate(choices):
            _rule(rule, f"{at}.Choices[{i}]", out, top=True)
            if isinstance(rule, dict) and "Next" in rule:
                targets.append(rule["Next"])
        if "Default" in s:
            targets.append(s["Default"])
    if kind == "Parallel":
        branches = s.get("Branches")
        if not isinstance(branches, list) or not branches:
            out.append(f"{at}: Parallel needs a non-empty Branches list")
        else:
            for i, b in enumerate(branches):
                _machine(b, f"{at}.Branches[{i}].", out)
    for i, r in enumerate(s.get("Retry", [])):
        _retrier(r, f"{at}.Retry[{i}]", out, last=i == len(s["Retry"]) - 1)
    for i, c in enumerate(s.get("Catch", [])):
        _errors(c.get("ErrorEquals"), f"{at}.Catch[{i}]", out, last=i == len(s["Catch"]) - 1)
        if "Next" not in c:
            out.append(f"{at}.Catch[{i}]: a catcher needs Next")
        else:
            targets.append(c["Next"])
    for key in ("Parameters", "ResultSelector"):
        if key in s:
            _payload(s[key], f"{at}.{key}", out)
    for key in ("ResultPath", "InputPath", "OutputPath"):
        v = s.get(key, "$")
        if v is not None and not (isinstance(v, str) and v.startswith("$")):
            out.append(f"{at}: {key} must be a path starting with $ or null")
    return [t for t in targets if isinstance(t, str)]


def _rule(rule: Any, at: str, out: list[str], *, top: bool) -> None:
    if not isinstance(rule, dict):
        out.append(f"{at}: a choice rule must be an object")
        return
    if top and "Next" not in rule:
        out.append(f"{at}: a top-level choice rule needs Next")
    if not top and "Next" in rule:
        out.append(f"{at}: a nested choice rule must not have Next")
    if "And" in rule or "Or" in rule:
        parts = rule.get("And", rule.get("Or"))
        if not isinstance(parts, list) or not parts:
            out.append(f"{at}: And/Or needs a non-empty list")
            return
        for i, r in enumerate(parts):
            _rule(r, f"{at}[{i}]", out, top=False)
    elif "Not" in rule:
        _rule(rule["Not"], f"{at}.Not", out, top=False)
    else:
        ops = [k for k in rule if k in COMPARATORS]
        if len(ops) != 1 or not str(rule.get("Variable", "")).startswith("$"):
            out.append(f"{at}: needs a Variable path and exactly one comparison operator")


def _retrier(r: dict[str, Any], at: str, out: list[str], *, last: bool) -> None:
    _errors(r.get("ErrorEquals"), at, out, last=last)
    if "IntervalSeconds" in r and not _pos_int(r["IntervalSeconds"]):
        out.append(f"{at}: IntervalSeconds must be a positive integer")
    if "MaxDelaySeconds" in r and not _pos_int(r["MaxDelaySeconds"]):
        out.append(f"{at}: MaxDelaySeconds must be a positive integer")
    m = r.get("MaxAttempts", 3)
    if isinstance(m, bool) or not isinstance(m, int) or m < 0:
        out.append(f"{at}: MaxAttempts must be a non-negative integer")
    b = r.get("BackoffRate", 2.0)
    if isinstance(b, bool) or not isinstance(b, int | float) or b < 1.0:
        out.append(f"{at}: BackoffRate must be a number >= 1.0")


def _errors(errors: Any, at: str, out: list[str], *, last: bool) -> None:
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        out.append(f"{at}: ErrorEquals must be a non-empty list of error names")
        return
    if "States.ALL" in errors and (len(errors) > 1 or not last):
        out.append(f"{at}: States.ALL must appear alone, in the last retrier/catcher")


def _payload(value: Any, at: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith(".$"):
                ok = isinstance(v, str) and (v.startswith("$") or v.startswith("States."))
                if not ok:
                    out.append(f"{at}.{k}: a '.$' field must hold a path or intrinsic function")
            else:
                _payload(v, f"{at}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _payload(v, f"{at}[{i}]", out)


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0
