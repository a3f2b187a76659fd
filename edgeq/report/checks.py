"""An output check's figures as text, each beside the floor it was held to (profile/correctness.py).

"SQNR 26.0 dB ≥ 15 dB floor" says what passed and by how much; a bit-exact match
says "bit-exact" rather than "inf dB".
"""

from __future__ import annotations

from typing import Any

NONE = "—"


def check_figures(check: dict[str, Any], reference_kind: str | None = None) -> str:
    """The figures of one backend's check with their floors, and for a mismatch what it missed."""
    if not check:
        return NONE
    floors = check.get("thresholds") or {}
    same = "same model, " if reference_kind == "same-model" else ""
    if check.get("bit_exact"):
        return f"{same}bit-exact (every output value equal to the reference's)"
    shown = []
    if isinstance(check.get("share_over_1_lsb"), (int, float)):
        shown.append(f"{100 * check['share_over_1_lsb']:.2g}% of values off by > 1 LSB"
                     + _floor(floors.get("max_share_over_1_lsb"), "≤", lambda v: f"{100 * v:g}%"))
        shown.append(f"largest {check.get('max_lsb')} LSB" + _floor(floors.get("max_lsb"), "≤", lambda v: f"{v:g}"))
    if isinstance(check.get("rel_error"), (int, float)):
        shown.append(f"relative error {check['rel_error']:.2g}"
                     + _floor(floors.get("max_rel_error"), "≤", lambda v: f"{v:g}"))
    if isinstance(check.get("sqnr_db"), (int, float)):
        shown.append(f"SQNR {check['sqnr_db']:.1f} dB"
                     + _floor(floors.get("min_sqnr_db"), "≥", lambda v: f"{v:g} dB"))
    if isinstance(check.get("cosine"), (int, float)):
        shown.append(f"cosine {check['cosine']:.5f}" + _floor(floors.get("min_cosine"), "≥", lambda v: f"{v:g}"))
    if isinstance(check.get("top1_agree"), bool):
        shown.append(f"top-1 {'agrees' if check['top1_agree'] else 'differs'}")
    if check.get("why"):
        shown.append(f"missed: {check['why']}")
    return f"{same}" + ", ".join(shown) if shown else NONE


def check_short(check: dict[str, Any] | None) -> str:
    """The terminal's one word or two: `ok bit-exact`, `ok ≤2 LSB`, `ok 3e-07`, `MISMATCH`."""
    if check is None:
        return "-"
    if not check.get("passed"):
        return "MISMATCH"
    if check.get("bit_exact"):
        return "ok bit-exact"
    if isinstance(check.get("max_lsb"), int):
        return f"ok ≤{check['max_lsb']} LSB"
    if isinstance(check.get("rel_error"), (int, float)) and "max_rel_error" in (check.get("thresholds") or {}):
        return f"ok rel {check['rel_error']:.0e}"
    return f"ok {check['sqnr_db']:.0f} dB" if isinstance(check.get("sqnr_db"), (int, float)) else "ok"


def _floor(value: Any, sign: str, show: Any) -> str:
    return f" ({sign} {show(value)} floor)" if isinstance(value, (int, float)) else ""
