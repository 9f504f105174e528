"""Parameter accounting from the real masks: N_initial, N_current, N_final and N_avg.

N_avg = (1/T) Σ_t N_t, where N_t is the number of non-zero prunable parameters in force during step t
(DESIGN: the scaling law L(N_avg, D) = E + A / N_avg^α + B / D^β is fitted on it). The integer sum Σ_t N_t is kept,
not a float mean, so a resumed run reproduces N_avg bit for bit.
"""
from __future__ import annotations


class ParamAccountant:
    """Record N_t once per training step with `record(step, n_nonzero)`; read the running counts."""

    def __init__(self) -> None:
        self._steps_recorded = 0
        self._param_step_sum = 0  # Σ_t N_t over the recorded steps
        self._initial_params: int | None = None
        self._current_params: int | None = None
        self._last_step: int | None = None

    def record(self, step: int, n_nonzero: int) -> None:
        """N_t = n_nonzero for training step `step`; steps must increase (a step is never counted twice)."""
        if not isinstance(n_nonzero, int) or isinstance(n_nonzero, bool) or n_nonzero < 0:
            raise ValueError(f"n_nonzero must be an integer >= 0, got {n_nonzero!r}")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(f"step must be > the last recorded step {self._last_step}, got {step}")
        if self._initial_params is None:
            self._initial_params = n_nonzero
        self._current_params = n_nonzero
        self._param_step_sum += n_nonzero
        self._steps_recorded += 1
        self._last_step = step

    def _require_records(self, what: str) -> None:
        if self._steps_recorded == 0:
            raise RuntimeError(f"ParamAccountant.{what} is undefined before the first record()")

    @property
    def steps_recorded(self) -> int:
        return self._steps_recorded

    @property
    def last_step(self) -> int | None:
        return self._last_step

    @property
    def initial_params(self) -> int:
        """N at the first recorded step."""
        self._require_records("initial_params")
        return self._initial_params

    @property
    def current_params(self) -> int:
        """N at the last recorded step."""
        self._require_records("current_params")
        return self._current_params

    @property
    def final_params(self) -> int:
        """N at the last recorded step (the final count once training is over)."""
        self._require_records("final_params")
        return self._current_params

    @property
    def avg_params(self) -> float:
        """N_avg so far: (Σ_t N_t) / (number of recorded steps)."""
        self._require_records("avg_params")
        return self._param_step_sum / self._steps_recorded

    def state_dict(self) -> dict:
        """Plain ints (and None before the first record): exact, and loadable with weights_only=True."""
        return {"steps_recorded": self._steps_recorded, "param_step_sum": self._param_step_sum,
                "initial_params": self._initial_params, "current_params": self._current_params,
                "last_step": self._last_step}

    def load_state_dict(self, state: dict) -> None:
        self._steps_recorded = int(state["steps_recorded"])
        self._param_step_sum = int(state["param_step_sum"])
        self._initial_params = state["initial_params"]
        self._current_params = state["current_params"]
        self._last_step = state["last_step"]
