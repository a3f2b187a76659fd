"""An output check's figures as text, each beside the floor it was held to (profile/correctness.py).

"SQNR 26.0 dB ≥ 15 dB floor" says what passed and by how much; a bit-exact match
says "bit-exact" rather than "inf dB".
"""

from __future__ import annotations

from typing import Any

from edgeq.agent.sections import Check

NONE = "—"


def _typed(check: Check | dict[str, Any] | None) -> Check | None:
    """A verdict as read from result.json (a dict, e.g. profile's ProfileRun.result) is typed here."""
    return check if check is None or isinstance(check, Check) else Check.read(check)


def check_figures(check: Check | dict[str, Any] | None, reference_kind: str | None = None) -> str:
    """The figures of one backend's check with their floors, and for a mismatch what it missed."""
    check = _typed(check)
    if check is None or not check.written:
        return NONE
    floors = check.thresholds
    same = "same model, " if reference_kind == "same-model" else ""
    if check.bit_exact:
        return f"{same}bit-exact (every output value equal to the reference's)"
    shown = []
    if check.share_over_1_lsb is not None:
        shown.append(f"{100 * check.share_over_1_lsb:.2g}% of values off by > 1 LSB"
                     + _floor(floors.get("max_share_over_1_lsb"), "≤", lambda v: f"{100 * v:g}%"))
        shown.append(f"largest {check.max_lsb} LSB" + _floor(floors.get("max_lsb"), "≤", lambda v: f"{v:g}"))
    if check.rel_error is not None:
        shown.append(f"relative error {check.rel_error:.2g}"
                     + _floor(floors.get("max_rel_error"), "≤", lambda v: f"{v:g}"))
    if check.sqnr_db is not None:
        shown.append(f"SQNR {check.sqnr_db:.1f} dB"
                     + _floor(floors.get("min_sqnr_db"), "≥", lambda v: f"{v:g} dB"))
    if check.cosine is not None:
        shown.append(f"cosine {check.cosine:.5f}" + _floor(floors.get("min_cosine"), "≥", lambda v: f"{v:g}"))
    if isinstance(check.top1_agree, bool):
        shown.append(f"top-1 {'agrees' if check.top1_agree else 'differs'}")
    if check.why:
        shown.append(f"missed: {check.why}")
    return f"{same}" + ", ".join(shown) if shown else NONE


def check_short(check: Check | dict[str, Any] | None) -> str:
    """The terminal's one word or two: `ok bit-exact`, `ok ≤2 LSB`, `ok 3e-07`, `MISMATCH`."""
    check = _typed(check)
    if check is None:
        return "-"
    if not check.passed:
        return "MISMATCH"
    if check.bit_exact:
        return "ok bit-exact"
    if isinstance(check.max_lsb, int):
        return f"ok ≤{check.max_lsb} LSB"
    if check.rel_error is not None and "max_rel_error" in check.thresholds:
        return f"ok rel {check.rel_error:.0e}"
    return f"ok {check.sqnr_db:.0f} dB" if check.sqnr_db is not None else "ok"


def _floor(value: Any, sign: str, show: Any) -> str:
    return f" ({sign} {show(value)} floor)" if isinstance(value, (int, float)) else ""
