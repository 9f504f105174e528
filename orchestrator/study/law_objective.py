"""The objective of the law fit (Hoffmann et al. 2022, Approach 3) and its starting points, for many fits at once.

Over theta = (a, b, e, alpha, beta), a fit minimises

    sum_i Huber_delta( LSE(a - alpha*log N_i, b - beta*log D_i, e) - log L_i ),

from the `starts` points of the Hoffmann grid with the lowest objective. Every function here takes a stack of
problems (rows): `objective_rows` evaluates k problems at k points in one vectorised pass, with the same
floating-point operations per row as a single evaluation, so a fit run alone or in a batch gives the same numbers.
`GridTable` holds each cell's Huber term at every grid point once, so ranking the grid for a subset of the cells
(a cross-validation fold, a bootstrap resample) is a column gather and a sum, not a new pass over the grid.
"""
from __future__ import annotations

import itertools

import numpy as np

GRID = np.array(list(itertools.product(
    (0, 5, 10, 15, 20, 25), (0, 5, 10, 15, 20, 25), (-1, -0.5, 0, 0.5, 1),
    (0, 0.5, 1.0, 1.5, 2.0), (0, 0.5, 1.0, 1.5, 2.0))), dtype=float)  # columns: a, b, e, alpha, beta
BOUNDS = [(-20.0, 60.0), (-20.0, 60.0), (-10.0, 10.0), (0.0, 3.0), (0.0, 3.0)]


def terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """The three log-terms (a - alpha log N, b - beta log D, e), shape (..., n, 3) for theta (..., 5)."""
    a, b, e, alpha, beta = (theta[..., k, None] for k in range(5))
    t_n, t_d = a - alpha * log_n, b - beta * log_d
    return np.stack([t_n, t_d, np.broadcast_to(e, t_n.shape)], -1)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber_delta(r) = r^2/2 if |r| <= delta else delta*(|r| - delta/2)."""
    abs_r = np.abs(r)
    return np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def objective_rows(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray,
                   delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber objectives (k,) and gradients (k, 5) of k problems, theta (k, 5) and data (k, n); d LSE / d term_j =
    softmax_j, d term / d alpha = -log N, etc."""
    a, b, e, alpha, beta = (theta[:, k, None] for k in range(5))
    t_n, t_d = a - alpha * log_n, b - beta * log_d
    top = np.maximum(np.maximum(t_n, t_d), e)
    w_n, w_d, w_e = np.exp(t_n - top), np.exp(t_d - top), np.exp(e - top)
    total = w_n + w_d + w_e
    residual = top + np.log(total) - log_l
    psi = np.clip(residual, -delta, delta) / total  # Huber'(r) times the softmax normaliser
    g_n, g_d = psi * w_n, psi * w_d
    grad = np.stack([g_n.sum(-1), g_d.sum(-1), (psi * w_e).sum(-1), -np.vecdot(g_n, log_n),
                     -np.vecdot(g_d, log_d)], -1)
    return huber(residual, delta).sum(-1), grad


def objective(theta, log_n, log_d, log_l, delta) -> tuple[float, np.ndarray]:
    """objective_rows of one problem: (value, gradient (5,))."""
    value, grad = objective_rows(np.asarray(theta, dtype=float)[None], log_n[None], log_d[None], log_l[None], delta)
    return float(value[0]), grad[0]


def scaled_rows(theta, log_n, log_d, log_l, delta) -> tuple[np.ndarray, np.ndarray]:
    """objective_rows / (n * delta), so that L-BFGS-B's default tolerances act on an O(|r| / delta) scale."""
    value, grad = objective_rows(theta, log_n, log_d, log_l, delta)
    scale = 1.0 / (log_l.shape[-1] * delta)
    return value * scale, grad * scale


def _logsumexp3(values: np.ndarray) -> np.ndarray:
    """log(exp(t0) + exp(t1) + exp(t2)) over the last axis (of size 3), shifted by the maximum: what
    scipy.special.logsumexp gives, at a fraction of its cost on the (grid × cells × 3) array of GridTable."""
    top = values.max(axis=-1)
    return top + np.log(np.exp(values - top[..., None]).sum(axis=-1))


class GridTable:
    """Each cell's Huber term at each point of the Hoffmann grid, (grid, cells), computed once for a data set."""

    def __init__(self, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float) -> None:
        self.terms = huber(_logsumexp3(terms(GRID, log_n, log_d)) - log_l, delta)

    def starts(self, cells: np.ndarray, starts: int | None) -> np.ndarray:
        """The grid's `starts` points of lowest objective on the cells `cells` (indices, repeats allowed, in the
        order of the subset's data); the whole grid when starts is None. Deterministic (stable sort)."""
        if starts is None or starts >= len(GRID):
            return GRID
        order = np.argsort(self.terms[:, cells].sum(axis=-1), kind="stable")
        return GRID[order[:max(1, starts)]]
