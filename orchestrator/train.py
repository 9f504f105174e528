"""`python -m orchestrator.train`, the documented entry point: the Hydra app lives in orchestrator/sweep/train.py."""
from orchestrator.sweep.train import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    main()
