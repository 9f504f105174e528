"""L-BFGS-B on many small bounded problems at once, each run exactly as `scipy.optimize.minimize(method="L-BFGS-B")`
runs it.

scipy's L-BFGS-B is a reverse-communication routine (`setulb`): it returns whenever it needs f and its gradient at
a new x. `minimize_many` keeps one routine state per problem and answers the pending requests of all problems with
one vectorised evaluation, so each problem goes through the iterates `minimize` would give it (the same routine, the
same f and gradient), while the report's ~1,500 refits of the law no longer pay `minimize`'s per-call overhead
~300,000 times. `setulb` is scipy's private interface (its signature as of scipy 1.15, pinned in setup.cfg); when it
is missing or refuses the call, `minimize_many` runs `minimize` problem by problem, with the same results.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Evaluate = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
MAXCOR, FTOL, GTOL, MAXLS, MAXFUN = 10, 2.2204460492503131e-09, 1e-5, 20, 15000  # minimize's L-BFGS-B defaults
_FG, _NEW_X, _CONVERGENCE, _STOP = 3, 1, 4, 5  # setulb's task codes (scipy.optimize._lbfgsb_py.status_messages)


@dataclass
class Solution:
    """What the report reads of a `minimize` result: the last x, f there, and whether L-BFGS-B converged."""

    x: np.ndarray
    fun: float
    success: bool


class _Routines:
    """Every problem's setulb state (the arrays `_minimize_lbfgsb` allocates). x and the gradient are rows of two
    arrays, so the pending problems' points are gathered, and their gradients written, in one operation each; each
    problem's setulb arguments are one list, its f (index F) replaced after each evaluation."""

    F = 5

    def __init__(self, x0: np.ndarray, bounds, factr: float) -> None:
        k, n, m = *x0.shape, MAXCOR
        low, high = (np.array(b, dtype=float) for b in zip(*bounds))
        kinds = np.full(n, 2, np.int32)  # setulb's nbd: 2 = bounded below and above
        self.x, self.g = x0.copy(), np.zeros((k, n))
        self.iterations, self.evaluations = [0] * k, [0] * k
        self.tasks = [np.zeros(2, np.int32) for _ in range(k)]
        self.arguments = [[m, self.x[row], low, high, kinds, 0.0, self.g[row], factr, GTOL,
                           np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m), np.zeros(3 * n, np.int32),
                           self.tasks[row], np.zeros(4, np.int32), np.zeros(44, np.int32), np.zeros(29), MAXLS,
                           np.zeros(2, np.int32)] for row in range(k)]  # setulb's order; wa, iwa, task, … ln_task


def minimize_many(evaluate: Evaluate, x0: np.ndarray, bounds: Sequence[tuple[float, float]], *,
                  maxiter: int = 500) -> list[Solution]:
    """Minimise K problems from x0 (K, n) within finite `bounds`; evaluate(rows, X) returns (f (k,), gradient (k, n))
    of problems `rows` at points X (k, n). One Solution per problem, as `minimize` with jac=True would return."""
    x0 = np.clip(np.asarray(x0, dtype=float), *np.asarray(bounds, dtype=float).T)
    try:
        from scipy.optimize import _lbfgsb

        return _lockstep(_lbfgsb.setulb, evaluate, x0, bounds, maxiter)
    except (ImportError, AttributeError, TypeError, ValueError):
        return _one_by_one(evaluate, x0, bounds, maxiter)


def _one_by_one(evaluate: Evaluate, x0: np.ndarray, bounds, maxiter: int) -> list[Solution]:
    from scipy.optimize import minimize

    solutions = []
    for row, start in enumerate(x0):
        def objective(x: np.ndarray, row: int = row) -> tuple[float, np.ndarray]:
            f, g = evaluate(np.array([row]), x[None, :])
            return float(f[0]), g[0]

        result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter})
        solutions.append(Solution(result.x, float(result.fun), bool(result.success)))
    return solutions


def _lockstep(setulb, evaluate: Evaluate, x0: np.ndarray, bounds, maxiter: int) -> list[Solution]:
    """`_minimize_lbfgsb`'s loop, run for every problem in turn up to its next request for f and gradient; then one
    evaluation answers all requests."""
    state = _Routines(x0, bounds, FTOL / np.finfo(float).eps)
    arguments, tasks, iterations, evaluations = state.arguments, state.tasks, state.iterations, state.evaluations
    waiting = list(range(len(x0)))
    while waiting:
        asking = []
        for row in waiting:
            call, task = arguments[row], tasks[row]
            while True:
                setulb(*call)
                if task[0] == _FG:
                    asking.append(row)
                    break
                if task[0] != _NEW_X:
                    break
                iterations[row] += 1
                if iterations[row] >= maxiter:
                    task[:] = (_STOP, 504)
                elif evaluations[row] > MAXFUN:
                    task[:] = (_STOP, 502)
        if asking:
            values, state.g[asking] = evaluate(np.array(asking), state.x[asking])
            for row, value in zip(asking, values.tolist()):
                arguments[row][_Routines.F] = value
                evaluations[row] += 1
        waiting = asking
    return [Solution(state.x[row].copy(), arguments[row][_Routines.F], bool(tasks[row][0] == _CONVERGENCE))
            for row in range(len(x0))]
