"""The verdict a report opens with: per model and board, what to run.

Three answers, each among the setups whose outputs pass (or were not checked; the
line says so): the fastest, the smallest, and, where accuracy or agreement is known,
the fastest within `max_accuracy_drop` of the best. Each gives its median with a 95%
interval and how it compares with the runner-up, the ratio's interval taken from the
same block bootstrap `edgeq compare` uses. "Not clearly faster" is said when the
ratio's interval reaches 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .stats import Setup, setups
from .units import duration

DEFAULT_MAX_ACCURACY_DROP = 0.01  # one percentage point of top-1 accuracy or agreement


@dataclass(frozen=True)
class Pick:
    """One answer of the verdict: which setup, its figures, and the comparison that makes it the answer."""

    question: str  # fastest, smallest, best within the accuracy budget
    setup: Setup
    text: str  # the whole line, for every format
    runner_up: Setup | None = None
    ratio: tuple[float, float, float] | None = None  # runner-up median / this median, CI low, CI high


@dataclass(frozen=True)
class Verdict:
    board: str
    model: str
    picks: list[Pick]
    notes: list[str]  # why an answer is missing


def verdicts(cells: list, max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP) -> list[Verdict]:
    """One verdict per (board, model) that has cells."""
    grouped: dict[tuple[str, str], list[Setup]] = {}
    for setup in setups(cells):
        grouped.setdefault((setup.board, setup.model), []).append(setup)
    return [_verdict(board, model, found, max_accuracy_drop) for (board, model), found in sorted(grouped.items())]


def _verdict(board: str, model: str, found: list[Setup], drop: float) -> Verdict:
    measured = [s for s in found if s.interval]
    candidates = sorted((s for s in measured if s.passed is not False), key=lambda s: s.interval.median)
    notes = []
    wrong = [s.name for s in measured if s.passed is False]
    if wrong:
        notes.append(f"left out, outputs do not match the reference: {', '.join(wrong)}")
    failed = [s.name for s in found if not s.runs]
    if failed:
        notes.append(f"left out, did not run or kept no samples: {', '.join(failed)}")
    if not candidates:
        return Verdict(board, model, [], notes + ["no setup ran with passing outputs"])
    picks = [_fastest("fastest", candidates)]
    sized = [s for s in candidates if s.size_bytes]
    if sized:
        picks.append(_smallest(sized))
    scored = [(s, s.accuracy()) for s in candidates]
    known = [(s, a) for s, a in scored if a]
    if known:
        best = max(a[1] for _, a in known)
        within = [s for s, a in known if a[1] >= best - drop - 1e-12]
        pick = _fastest(f"best within {100 * drop:g} point{'s' if drop != 0.01 else ''} of the best accuracy",
                        within)
        kind, value = pick.setup.accuracy() or ("accuracy", 0.0)
        picks.append(Pick(pick.question, pick.setup, f"{pick.text}; {kind} {100 * value:.1f}% (best "
                          f"{100 * best:.1f}%)", pick.runner_up, pick.ratio))
    else:
        notes.append("accuracy not known: no analysis table, `--eval` data or float reference in these runs")
    return Verdict(board, model, picks, notes)


def _fastest(question: str, ordered: list[Setup]) -> Pick:
    best = ordered[0]
    text = f"{_figure(best)}{_unchecked(best)}"
    if len(ordered) < 2:
        return Pick(question, best, text + "; the only candidate")
    runner = ordered[1]
    ratio = runner_ratio(best, runner)
    return Pick(question, best, f"{text}, {_compared(ratio, 'faster', runner)}", runner, ratio)


def _smallest(sized: list[Setup]) -> Pick:
    ordered = sorted(sized, key=lambda s: (s.size_bytes, s.interval.median))
    best = ordered[0]
    text = (f"{best.variant}, {best.size_bytes / 1024:.1f} KB, fastest on {_figure(best, best.backend)}"
            f"{_unchecked(best)}")
    bigger = [s for s in ordered if s.size_bytes > best.size_bytes]
    if not bigger:
        return Pick("smallest", best, text + "; every candidate is this size")
    return Pick("smallest", best, f"{text}; {bigger[0].size_bytes / best.size_bytes:.2f}× smaller than "
                f"{bigger[0].variant} ({bigger[0].size_bytes / 1024:.1f} KB)", bigger[0])


def runner_ratio(best: Setup, runner: Setup) -> tuple[float, float, float]:
    """(runner-up median / best median, CI low, CI high) from both setups' raw samples."""
    from .bootstrap import median_ratio_ci

    return median_ratio_ci(best.runs, runner.runs)


def _figure(setup: Setup, name: str | None = None) -> str:
    interval = setup.interval
    runs = len(setup.runs)
    return (f"{name or setup.name}: median {duration(interval.median)} (95% CI {duration(interval.low)}–"
            f"{duration(interval.high)}, {runs} run{'s' if runs != 1 else ''})")


def _compared(ratio: tuple[float, float, float], word: str, runner: Setup) -> str:
    value, low, high = ratio
    if low <= 1.0:
        return f"not clearly {word} than {runner.name} ({value:.2f}×, CI {low:.2f}–{high:.2f}×)"
    return f"{_times(value)} {word} than {runner.name}, CI {_times(low)}–{_times(high)}"


def _times(value: float) -> str:
    return f"{value:.3g}×" if value < 100 else f"{value:.0f}×"


def _unchecked(setup: Setup) -> str:
    return " [outputs not checked]" if setup.passed is None else ""
