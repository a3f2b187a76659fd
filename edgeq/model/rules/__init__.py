"""Predicted verdicts: will this model run on a backend, with a given runtime version?

One table per runtime version, each in its own module (litert.py, tflite_runtime_2_14.py,
litert_gpu.py, armnn_20_08.py, armnn_23_08.py); a new runtime version is a new module added to TABLES.
Every rule says what it saw (the failure it was learnt from), so a user can tell a
prediction from a guess. Rules read only the model card: no runtime is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from edgeq.model.card import ModelCard

RUNS, PARTLY, WRONG, REFUSED = "runs", "runs partly", "runs, wrong answers", "refused"
_SEVERITY = (REFUSED, WRONG, PARTLY)
"""The verdict of several rules is the gravest one's."""


@dataclass(frozen=True)
class Rule:
    name: str
    verdict: str
    """REFUSED (the runtime will not load or run it), WRONG (it runs and computes something else)
    or PARTLY (some ops fall back to the CPU, or to a slower backend)."""
    finds: Callable[[ModelCard], str | None]
    """What in the model trips the rule (op names, tensor names), or None when it does not apply."""
    says: str
    """Plain words; {found} is what `finds` returned."""
    learnt_from: str
    """The failure this rule was learnt from: where it was seen and the runtime's own words."""
    certain: bool = False
    """True when edgeq refuses the backend before anything is sent (a custom op nobody registered)."""


@dataclass(frozen=True)
class RuleTable:
    backend: str
    """edgeq's backend name: tflite-cpu, tflite-gpu, armnn."""
    runtime: str
    version: str
    rules: tuple[Rule, ...]
    known_custom_ops: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.runtime} {self.version}"


@dataclass(frozen=True)
class Prediction:
    table: RuleTable
    verdict: str
    reasons: tuple[tuple[Rule, str], ...]
    """(rule, what it found) for every rule that applies."""

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.table.backend, "runtime": self.table.runtime, "version": self.table.version,
                "verdict": self.verdict,
                "reasons": [{"rule": r.name, "verdict": r.verdict, "says": r.says.format(found=found),
                             "learnt_from": r.learnt_from} for r, found in self.reasons]}

    def text(self) -> str:
        words = "; ".join(r.says.format(found=found) for r, found in self.reasons)
        return f"{self.verdict}: {words}" if words else self.verdict


def custom_ops_missing(card: ModelCard, table: RuleTable, registered: frozenset[str] = frozenset()) -> list[str]:
    return [op for op in card.custom_ops if op not in table.known_custom_ops and op not in registered]


FLEX_PREFIX = "Flex"
"""TensorFlow's converter names the TensorFlow ops it keeps (SELECT_TF_OPS) FlexOpName."""


def _flex_note(ops: list[str]) -> str:
    """Flex ops look like custom ops to every runtime; say what they are and the way out."""
    if not any(op.startswith(FLEX_PREFIX) for op in ops):
        return ""
    return " (TensorFlow's, kept by SELECT_TF_OPS: needs the Flex delegate)"


def predict(card: ModelCard, table: RuleTable, registered: frozenset[str] = frozenset()) -> Prediction:
    """`registered`: custom ops the user brings a library for (--custom-op-library)."""
    reasons = []
    for rule in table.rules:
        found = rule.finds(card)
        if found and rule.name == "custom-op":
            missing = custom_ops_missing(card, table, registered)
            found = ", ".join(missing) + _flex_note(missing) if missing else None
        if found:
            reasons.append((rule, found))
    verdict = next((v for v in _SEVERITY if any(r.verdict == v for r, _ in reasons)), RUNS)
    return Prediction(table, verdict, tuple(reasons))


def _tables() -> tuple[RuleTable, ...]:
    from . import armnn_20_08, armnn_23_08, litert, litert_gpu, tflite_runtime_2_14

    return (litert.TABLE, tflite_runtime_2_14.TABLE, litert_gpu.TABLE, armnn_20_08.TABLE, armnn_23_08.TABLE)


def tables() -> tuple[RuleTable, ...]:
    return _tables()


def table_for(backend: str, runtime: str | None = None) -> RuleTable:
    """The table a backend is judged by: the runtime named, else the backend's first (the default runtime)."""
    for table in tables():
        if table.backend == backend and (runtime is None or table.runtime == runtime):
            return table
    raise KeyError(backend)


def predict_all(card: ModelCard, registered: frozenset[str] = frozenset()) -> list[Prediction]:
    return [predict(card, table, registered) for table in tables()]


def _numbers(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return None  # "2.x": a table for a whole line of releases


def table_at(runtime: str, version: tuple[int, ...] | None) -> RuleTable | None:
    """The table a runtime's version is judged by, or None when edgeq claims nothing for it.

    A table lists what was seen on its version; what fails there is taken to fail on older
    versions too, and a newer table leaves out what its version was measured to accept. So a
    version is judged by the oldest table at or after it, no version (any) by the oldest of
    all, and a version newer than every table by none.
    """
    known = sorted(((_numbers(t.version), t) for t in tables() if t.runtime == runtime and _numbers(t.version)),
                   key=lambda pair: pair[0])
    if not known:
        return None
    if version is None:
        return known[0][1]
    return next((table for at, table in known if version <= at), None)
