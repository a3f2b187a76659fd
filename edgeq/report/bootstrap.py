"""The block bootstrap under every latency comparison: a median ratio's confidence interval, and
how uncertain a side's level is from how its runs wandered (see compare.py's docstring for why).

Numbers only: compare, the report's verdict and advise's racing all read it; it reads nothing of theirs.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
BLOCKS = 20  # contiguous blocks each run's samples are cut into for the bootstrap
MIN_RUN_SD = 0.01  # least level uncertainty of one run (log units); runs here differed by 1.3-2.8% SD
MAD_TO_SD = 1.4826  # a normal distribution's SD per median absolute deviation
SHUFFLES = 8  # time-order shuffles that estimate a block median's sampling noise
GRID = 4096  # points at which a resampled series' distribution is read to find its median
_CHUNK = 250  # resamples computed at once: bounds memory to _CHUNK x GRID floats


def median_ratio_ci(base: list[np.ndarray], new: list[np.ndarray], resamples: int = RESAMPLES,
                    seed: int = SEED) -> tuple[float, float, float]:
    """(median(new) / median(base), CI low, CI high): a block bootstrap of each side's runs, independently."""
    rng = np.random.default_rng(seed)
    ratios = _boot_medians(_blocks(new), resamples, rng) / _boot_medians(_blocks(base), resamples, rng)
    ratios *= np.exp(rng.normal(0.0, np.hypot(level_sd(base), level_sd(new)), resamples))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(np.median(np.concatenate(new)) / np.median(np.concatenate(base))), float(low), float(high)


def _blocks(runs: list[np.ndarray]) -> list[np.ndarray]:
    """Every run's blocks (`_cut`), one list for the side.

    Runs of very different lengths on one side keep about BLOCKS blocks each, so a
    200-sample run beside a 10^6-sample one does not cut the long one into 10^5 blocks.
    """
    return [block for run in runs for block in _cut(run)]


def _cut(run: np.ndarray) -> np.ndarray:
    """(blocks, length): a run cut into about BLOCKS contiguous blocks (a shorter run: one sample each);
    its last few samples may be left."""
    length = max(1, run.size // BLOCKS)
    return run[:run.size - run.size % length].reshape(-1, length)


def level_sd(runs: list[np.ndarray]) -> float:
    """How uncertain a side's level is, in log units: the standard error of the mean of its runs' levels.

    Each run's level is taken to vary as much as the run wandered inside, and at least
    MIN_RUN_SD (a run too short to show its wander still has one); where a side has
    several runs, the spread between them counts when it is larger (robust from 3 runs on,
    so one burst run does not widen the side alone).
    """
    within = sum(max(wander(r), MIN_RUN_SD) ** 2 for r in runs) / len(runs)
    levels = np.array([_log(np.median(r)) for r in runs])
    between = 0.0
    if len(runs) == 2:
        between = float(np.var(levels, ddof=1))
    elif len(runs) > 2:
        between = _robust_var(levels)
    return float(np.sqrt(max(within, between) / len(runs)))


def wander(run: np.ndarray) -> float:
    """How far a run's speed wandered over its blocks: robust log SD of the block medians, beyond sampling noise.

    Blocks are cut as the bootstrap cuts them (`_cut`). The sampling part is what the
    same samples give with their time order shuffled (fixed seed); only the excess over
    it counts, since the bootstrap already carries the sampling noise. A run of fewer
    than 2 x BLOCKS samples has one-sample blocks and cannot tell (0); level_sd's floor
    covers it.
    """
    logs = _log(_cut(run))
    if logs.shape[1] < 2:
        return 0.0
    ordered = _robust_var(np.median(logs, axis=1))
    rng = np.random.default_rng(SEED)
    shuffled = np.mean([_robust_var(np.median(rng.permutation(logs.ravel()).reshape(logs.shape), axis=1))
                        for _ in range(SHUFFLES)])
    return float(np.sqrt(max(0.0, ordered - shuffled)))


def _log(ns: np.ndarray | float) -> np.ndarray:
    """Log of nanosecond times; a 0 ns sample (below the clock's step) counts as 1 ns."""
    return np.log(np.maximum(ns, 1))


def _robust_var(values: np.ndarray) -> float:
    """Variance from the median absolute deviation: a burst that slowed a few blocks moves the run's
    median little, so it must not count as the whole run wandering (seen: one block SD of 16.6%)."""
    return float((MAD_TO_SD * np.median(np.abs(values - np.median(values)))) ** 2)


def _boot_medians(blocks: list[np.ndarray], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` series, each made of as many blocks drawn with replacement as there are.

    A draw is a count per block (multinomial); the median of a draw is read off the
    summed per-block counts of values below each point of a fine grid, so the cost
    does not grow with the number of samples (a one-second run of a small model
    holds 10^5 of them).
    """
    count = len(blocks)
    sizes = np.array([block.size for block in blocks], dtype=float)
    grid = np.unique(np.quantile(np.concatenate(blocks), np.linspace(0.0, 1.0, GRID)))
    below = np.stack([np.searchsorted(np.sort(block), grid, side="right") for block in blocks]).astype(float)
    medians = []
    for done in range(0, resamples, _CHUNK):
        draws = rng.multinomial(count, np.full(count, 1.0 / count), size=min(_CHUNK, resamples - done))
        reached = (draws @ below) >= (draws @ sizes)[:, None] / 2
        medians.append(grid[reached.argmax(axis=1)])
    return np.concatenate(medians)
