"""Runtime compatibility of variants: what a target runtime is known to refuse or to run wrongly.

The rules themselves live in one place, the rule tables per runtime version
(edgeq/model/rules/: tflite_runtime_2_14.py, armnn_20_08.py, armnn_23_08.py), each citing
the failure it was learnt from; `edgeq inspect` and profile's pre-flight read the same
tables. This module only names targets the way `edgeq quantize --target` and a board's
facts do ('tflite-runtime==2.14', 'pyarmnn==33.0.0'), picks the table a target's version
is judged by, and words a tripped rule as a warning about one variant. The model is read
from its flatbuffer, so any variant is checked, whoever made it.
"""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import ConfigError
from edgeq.model.rules import RUNS, RuleTable, predict, table_at
from edgeq.quantize.sidecar import Variant

RUNTIMES = ("tflite-runtime", "pyarmnn")
# The rule tables' runtime names.
TABLE_RUNTIME = {"tflite-runtime": "tflite_runtime", "pyarmnn": "pyarmnn"}
# Names the agent's facts use for the runtimes' modules.
FACT_NAMES = {"tflite_runtime": "tflite-runtime", "pyarmnn": "pyarmnn"}
ARMNN_RELEASES = {22: (20, 8), 33: (23, 8)}
"""pyarmnn reports its ArmNN library's version (22.0.0, 33.0.0); the release Debian ships it as."""


class CompatWarning(UserWarning):
    """A variant that a target runtime is known to refuse or to run wrongly."""


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise ConfigError(f"runtime version '{text}' is not a version like 2.14 or 20.08") from None


def armnn_release(library_major: int) -> tuple[int, ...]:
    """The ArmNN release of a library major version; one between or beyond the known ones is placed
    after the newest release below it (a rule seen there is not claimed for it)."""
    if library_major in ARMNN_RELEASES:
        return ARMNN_RELEASES[library_major]
    below = [release for major, release in ARMNN_RELEASES.items() if major < library_major]
    return (*max(below), 1) if below else (0,)


def table_for_target(target: str) -> RuleTable | None:
    """The rule table of a target like 'tflite-runtime==2.14', 'pyarmnn==22.0.0' or 'pyarmnn' (any version);
    None when the version is newer than every table (nothing is claimed for it)."""
    runtime, _, version = target.partition("==")
    runtime = runtime.strip().replace("_", "-")
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown target runtime '{runtime}'. Choose from: {', '.join(RUNTIMES)}")
    parts = _version(version.strip()) if version.strip() else None
    if runtime == "pyarmnn" and parts is not None and len(parts) == 3:  # the library's: 22.0.0 is ArmNN 20.08
        parts = armnn_release(parts[0])
    return table_at(TABLE_RUNTIME[runtime], parts)


def rules_for(targets: list[str]) -> list[tuple[str, RuleTable]]:
    """(target, the rule table it is judged by) for each target edgeq knows rules for."""
    chosen = [(target, table_for_target(target)) for target in targets]
    return [(target, table) for target, table in chosen if table is not None]


def targets_from_facts(facts: dict) -> list[str]:
    """The runtimes a board reports (agent `facts`), as targets."""
    found = facts.get("runtimes", {})
    targets = [f"{FACT_NAMES[name]}=={version}" for name, version in found.items() if name in FACT_NAMES]
    armnn = facts.get("pyarmnn") or facts.get("armnn") or {}
    version = armnn.get("armnn_version") or armnn.get("version")
    if armnn.get("installed") and version and "pyarmnn" not in found:
        targets.append(f"pyarmnn=={version}")
    return targets


def check(model: Path, rules: list[tuple[str, RuleTable]], variant: Variant | None = None) -> list[str]:
    """One line per rule that `model` trips: the target, what goes wrong, what to do instead."""
    if not rules:
        return []
    from edgeq.model.reader import read_card

    card = read_card(Path(model))
    label = f"{variant.mode} variant {Path(model).name}" if variant else Path(model).name
    lines = []
    for target, table in rules:
        prediction = predict(card, table)
        if prediction.verdict != RUNS:
            lines += [f"{label} on {target} ({rule.verdict}): {rule.says.format(found=found)}"
                      for rule, found in prediction.reasons]
    return lines
