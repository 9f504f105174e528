"""The stable path `orchestrator.scaling_law`: the law fits live in orchestrator/study/scaling_law.py."""
from orchestrator.study.scaling_law import (PARAM_NAMES, PREDICTORS, bootstrap_intervals, fit_chinchilla,
                                            fit_predictors, fittable_cells, heldout_errors, predict)

__all__ = ["PARAM_NAMES", "PREDICTORS", "bootstrap_intervals", "fit_chinchilla", "fit_predictors", "fittable_cells",
           "heldout_errors", "predict"]
