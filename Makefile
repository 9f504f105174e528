# The two commands a newcomer needs: `make demo` and `make test`. Both install from scratch into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RESULTS ?= results

.PHONY: install test demo bench reproduction clean

install: $(STAMP)

# DeepSpeed ships only an sdist whose setup imports torch: install the CPU torch first, then build DeepSpeed
# without build isolation (isolation would pull a CUDA-sized torch) and without its C++ ops.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 setuptools==84.2.1 wheel==0.48.0
	DS_BUILD_OPS=0 $(PY) -m pip install -q --no-build-isolation -e ".[test]"
	touch $(STAMP)

test: install
	WANDB_MODE=disabled $(PY) -m pytest -q -p no:cacheprovider

demo: install
	$(VENV)/bin/orchestrator-train -m experiment=demo results_dir=$(RESULTS) wandb.mode=offline
	@echo "Results: $(RESULTS)/demo/<cell_id>/ (result.json, metrics.jsonl, plan.json, final_model.pt)"
	@echo "W&B offline runs: $(RESULTS)/demo/*/wandb/offline-run-* (upload: .venv/bin/wandb sync $(RESULTS)/demo/*/wandb/offline-run-*)"
	@echo "Report: $(RESULTS)/demo/report/report.md (fit.json and figures beside it)"
	@echo "Run 'make demo' again: finished cells are skipped." 

bench: install
	$(PY) benchmarks/run_all.py

# The mini-scale reproduction of the paper (docs/reproduction/README.md): dense ladders (by tokens per parameter,
# and by steps so that dense cells cover the pruned cells' token counts), 3 seeds for a subset, then journey80; the
# report of the whole store last. About 2 h on 2 CPU cores (4.1 h of cells, two at a time); finished cells are
# skipped, so an interrupted run resumes where it stopped.
REPRO := docs/reproduction
REPRO_ARGS := train.batch_size=16 results_dir=$(REPRO)/store wandb.mode=offline
reproduction: install
	$(VENV)/bin/orchestrator-train -m experiment=dense_ladder model=pico,nano,micro,mini \
		budget.tokens_per_param=5,10,20 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-train -m experiment=dense_ladder model=pico,nano budget.tokens_per_param=null \
		budget.dense_steps=520,1040,2080,4560 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-train -m experiment=dense_ladder model=micro budget.tokens_per_param=null \
		budget.dense_steps=4560 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-train -m experiment=dense_ladder model=pico,nano,micro budget.tokens_per_param=null \
		budget.dense_steps=1500,3000 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-train -m experiment=journey80 model=micro window=a25_b75,a0_b50,a50_b100 pruning.sparsity=0.4,0.8 \
		budget.tokens_per_param=5 seed=1,2 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-train -m experiment=journey80 model=micro budget.tokens_per_param=5,10 $(REPRO_ARGS)
	$(VENV)/bin/orchestrator-report $(REPRO)/store --out $(REPRO)/report

clean:
	rm -rf $(VENV) build *.egg-info
