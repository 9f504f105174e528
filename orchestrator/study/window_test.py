"""Finding 1's statistics: is the paper's window within seed noise of the best window of its group?

A group is the windowed cells of one (model, duration, sparsity, schedule); window w has n_w seeds and mean m_w.
Seed noise σ is estimated per budget (model, duration) from the configs run there with several seeds (pooled
standard deviation, `dof` degrees of freedom); a group whose budget has no repeated config is not testable.

The test is selection-aware: its statistic is the paper window's gap to the best of the OTHER windows,
studentised,

    G = (m_paper − min_{w ≠ paper} m_w) / σ̂,

and its null is "every window of the group has the same expected loss". Under that null, with Gaussian seed noise,
m_w − μ ~ N(0, σ²/n_w) and σ̂² ~ σ² χ²_dof / dof independently, so the null distribution of G depends only on the
n_w and dof: it is simulated exactly (NULL_DRAWS draws, a fixed seed). The p-value is P(G_null ≥ G). Across a
family of groups, "does not hold" needs one group with p < α / (testable groups) (Bonferroni), so a study whose
windows are all tied is called "holds" with probability ≥ 1 − α; tests/study/test_window_calibration.py checks
that on simulated stores, and that a paper window planted 10 σ worse is found.

Treating the windows' seed noise as independent is conservative: cells that share a seed share their
initialisation and data order, so real differences between windows are less noisy than the test assumes.

The gap's interval is a parametric bootstrap with the best window chosen on each resample:
m*_w ~ N(m_w, σ̂²/n_w), gap* = m*_paper − min_w m*_w (the paper window included, so gap* ≥ 0), 2.5–97.5 %.
"""
from __future__ import annotations

import functools

import numpy as np

ALPHA = 0.05
NULL_DRAWS = 20000
INTERVAL_DRAWS = 4000
_SEED = 20251


@functools.lru_cache(maxsize=256)
def _null_gaps(n_paper: int, n_others: tuple[int, ...], dof: int) -> np.ndarray:
    """Sorted draws of G under the null (all windows tied), for these seed counts and noise dof."""
    rng = np.random.default_rng(_SEED)
    paper = rng.standard_normal(NULL_DRAWS) / np.sqrt(n_paper)
    others = rng.standard_normal((NULL_DRAWS, len(n_others))) / np.sqrt(np.array(n_others, dtype=float))
    scale = np.sqrt(rng.chisquare(dof, NULL_DRAWS) / dof)
    return np.sort((paper - others.min(axis=1)) / scale)


def gap_p_value(means: dict, seeds: dict, paper, noise: float, dof: int) -> float:
    """P(G_null ≥ G_observed) for the group's window means (see the module docstring)."""
    others = [w for w in means if w != paper]
    statistic = (means[paper] - min(means[w] for w in others)) / noise
    null = _null_gaps(int(seeds[paper]), tuple(sorted(int(seeds[w]) for w in others)), int(dof))
    exceed = null.size - np.searchsorted(null, statistic, side="left")
    return float((exceed + 1) / (null.size + 1))


def gap_interval(means: dict, seeds: dict, paper, noise: float) -> list[float]:
    """The 95 % parametric-bootstrap interval of the paper window's gap to the best window, best re-chosen on each
    resample."""
    rng = np.random.default_rng(_SEED)
    windows = sorted(means)
    centre = np.array([means[w] for w in windows])
    spread = noise / np.sqrt(np.array([seeds[w] for w in windows], dtype=float))
    draws = centre + spread * rng.standard_normal((INTERVAL_DRAWS, len(windows)))
    gaps = draws[:, windows.index(paper)] - draws.min(axis=1)
    low, high = np.percentile(gaps, [2.5, 97.5])
    return [float(low), float(high)]


def family_verdict(p_values: list[float], alpha: float = ALPHA) -> bool | None:
    """Bonferroni over a family of groups: False ("does not hold") when some p < alpha / len; True when none is;
    None for an empty family."""
    if not p_values:
        return None
    return bool(min(p_values) >= alpha / len(p_values))
