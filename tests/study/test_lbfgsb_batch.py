"""The report's fast law fits give the numbers of the slow ones: lockstep L-BFGS-B is scipy's `minimize`, iterate for
iterate, and BLAS runs on one thread while the report computes."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from orchestrator.study.law_objective import BOUNDS, GRID, GridTable, huber, objective_rows, scaled_rows, terms
from orchestrator.study.lbfgsb_batch import _one_by_one, minimize_many


def _problems(k: int = 12, n: int = 30, seed: int = 3) -> tuple[np.ndarray, ...]:
    """k law-fit problems on noisy data of a planted law, and a start for each."""
    rng = np.random.default_rng(seed)
    log_n, log_d = rng.uniform(10, 16, (k, n)), rng.uniform(13, 20, (k, n))
    loss = 1.7 + 400 * np.exp(-0.34 * log_n) + 410 * np.exp(-0.28 * log_d)
    log_l = np.log(loss * (1 + 0.01 * rng.standard_normal((k, n))))
    return log_n, log_d, log_l, GRID[rng.choice(len(GRID), k)]


def test_lockstep_routines_follow_minimize_exactly() -> None:
    log_n, log_d, log_l, x0 = _problems()

    def evaluate(rows, theta):
        return scaled_rows(theta, log_n[rows], log_d[rows], log_l[rows], 1e-3)

    batch = minimize_many(evaluate, x0, BOUNDS)
    assert len(batch) == len(x0)
    for row, solution in enumerate(batch):
        alone = minimize(lambda x: tuple(a[0] for a in evaluate(np.array([row]), x[None])), x0[row], jac=True,
                         method="L-BFGS-B", bounds=BOUNDS, options={"maxiter": 500})
        assert np.array_equal(solution.x, alone.x) and solution.fun == alone.fun
        assert solution.success == alone.success
    fallback = _one_by_one(evaluate, x0, BOUNDS, 500)  # the path taken where scipy's setulb is not at hand
    assert all(np.array_equal(a.x, b.x) and a.fun == b.fun for a, b in zip(batch, fallback))


def test_a_batch_of_rows_is_the_single_evaluation_bit_for_bit() -> None:
    log_n, log_d, log_l, theta = _problems(k=5)
    values, grads = objective_rows(theta, log_n, log_d, log_l, 1e-3)
    for row in range(5):
        value, grad = objective_rows(theta[row:row + 1], log_n[row:row + 1], log_d[row:row + 1],
                                     log_l[row:row + 1], 1e-3)
        assert value[0] == values[row] and np.array_equal(grad[0], grads[row])


def test_the_grid_table_ranks_a_subset_as_a_fresh_pass_over_it_would() -> None:
    log_n, log_d, log_l, _ = _problems(k=1, n=40)
    log_n, log_d, log_l = log_n[0], log_d[0], log_l[0]
    table = GridTable(log_n, log_d, log_l, 1e-3)
    cells = np.random.default_rng(0).integers(0, 40, 40)  # a bootstrap resample, repeats and all
    top = terms(GRID, log_n[cells], log_d[cells])
    fresh = top.max(-1) + np.log(np.exp(top - top.max(-1)[..., None]).sum(-1))
    order = np.argsort(huber(fresh - log_l[cells], 1e-3).sum(-1), kind="stable")
    assert np.array_equal(table.starts(cells, 8), GRID[order[:8]])


def test_blas_runs_on_one_thread_inside_the_report_and_as_before_after_it() -> None:
    import ctypes

    from orchestrator.study.blas_threads import _loaded_openblas, _thread_controls, one_blas_thread

    controls = [c for c in (_thread_controls(ctypes.CDLL(path)) for path in _loaded_openblas()) if c]
    assert controls, "numpy and scipy bring an OpenBLAS each"
    before = [get() for get, _ in controls]
    with one_blas_thread() as changed:
        assert changed == len(controls)
        assert all(get() == 1 for get, _ in controls)
    assert [get() for get, _ in controls] == before
