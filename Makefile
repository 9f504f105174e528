# The two commands a newcomer needs: `make demo` and `make test`. Both install from scratch into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RESULTS ?= results

.PHONY: install test demo bench mutation reproduction reproduction-paper-budgets gpu-wheels ray-head clean

install: $(STAMP)

# DeepSpeed ships only an sdist whose setup imports torch: install the CPU torch first, then build DeepSpeed
# without build isolation (isolation would pull a CUDA-sized torch) and without its C++ ops.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 setuptools==84.2.1 wheel==0.48.0
	DS_BUILD_OPS=0 $(PY) -m pip install -q --no-build-isolation -e ".[test]"
	touch $(STAMP)

test: install
	WANDB_MODE=disabled $(PY) -m pytest -q -p no:cacheprovider --durations=25

demo: install
	$(VENV)/bin/orchestrator-train -m experiment=demo results_dir=$(RESULTS) wandb.mode=offline
	@echo "Results: $(RESULTS)/demo/<cell_id>/ (result.json, metrics.jsonl, plan.json, final_model.pt)"
	@echo "W&B offline runs: $(RESULTS)/demo/*/wandb/offline-run-* (upload: .venv/bin/wandb sync $(RESULTS)/demo/*/wandb/offline-run-*)"
	@echo "Report: $(RESULTS)/demo/report/report.md (fit.json and figures beside it)"
	@echo "Run 'make demo' again: finished cells are skipped." 

bench: install
	$(PY) benchmarks/run_all.py

# A Ray head on this machine for launch/submit.sh (README, "On a cluster"), started with the project's environment
# first on PATH so that the jobs it runs use the project's Python; its dashboard listens on 127.0.0.1:8265.
# RAY_HEAD_ARGS adds `ray start` options (--port=..., --num-cpus=...). Stop it with `.venv/bin/ray stop`.
RAY_HEAD_ARGS ?=
ray-head: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ray start --head --dashboard-host=127.0.0.1 $(RAY_HEAD_ARGS)

# Mutation testing of pruning/, the LR schedule, the cell id and the planner CLI (setup.cfg [mutmut]); not part of
# `make test`. mutmut copies the code into mutants/ (git-ignored) and starts afresh each time; tests/mutation_report.py
# then writes the score and the surviving mutants to docs/testing.md. MUTMUT_ARGS=--max-children=1 spares a core.
MUTMUT_ARGS ?=
mutation: install
	$(PY) -m pip install -q mutmut==3.8.1
	rm -rf mutants
	start=$$(date +%s); OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run $(MUTMUT_ARGS); \
		$(PY) tests/mutation_report.py --seconds $$(($$(date +%s) - start)) --command "make mutation $(MUTMUT_ARGS)"

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
	$(MAKE) reproduction-paper-budgets
	$(VENV)/bin/orchestrator-report $(REPRO)/store --out $(REPRO)/report

# Finding 1 at 10 tokens per parameter and at the paper's budgets (issue 17): the windows 0.25-0.75, 0-0.25 and 0.5-1
# at sparsity 0.4 and 0.8 with 3 seeds at 10 (seed 0 is in journey80 above), 20 and 40 tokens per parameter, and the
# dense ladder at 40. About 6 h of cells on one core (0.085 s a step at micro, one cell at a time, so that the
# machine stays usable); resumable like every sweep.
PAPER_WINDOWS := experiment=journey80 model=micro window=a25_b75,a0_b25,a50_b100 pruning.sparsity=0.4,0.8
reproduction-paper-budgets: install
	$(VENV)/bin/orchestrator-train -m $(PAPER_WINDOWS) seed=0,1,2 budget.tokens_per_param=20 $(REPRO_ARGS) \
		hydra.launcher.num_cpus=1
	$(VENV)/bin/orchestrator-train -m $(PAPER_WINDOWS) seed=1,2 budget.tokens_per_param=10 $(REPRO_ARGS) \
		hydra.launcher.num_cpus=1
	$(VENV)/bin/orchestrator-train -m experiment=dense_ladder model=pico,nano,micro budget.tokens_per_param=40 \
		$(REPRO_ARGS) hydra.launcher.num_cpus=1
	$(VENV)/bin/orchestrator-train -m $(PAPER_WINDOWS) seed=0,1,2 budget.tokens_per_param=40 $(REPRO_ARGS) \
		hydra.launcher.num_cpus=1

# The wheels a bare GPU machine (torch and CUDA only) needs to run a cell, the GPU tests and bench_gpu.py: DeepSpeed
# and antlr4 built here (no C++ ops), the rest downloaded for CPython 3.12 on x86-64 Linux. About 8 MB: it travels
# with the working tree (the device tool's `carry`), and benchmarks/gpu_session.sh installs it there.
GPU_WHEELS := .gpu_wheels
GPU_PY := --python-version 3.12 --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
	--platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
gpu-wheels: install
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	DS_BUILD_OPS=0 $(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(GPU_WHEELS) deepspeed==0.19.8 \
		antlr4-python3-runtime==4.9.3
	$(PY) -m pip download -q --no-deps --only-binary=:all: $(GPU_PY) -d $(GPU_WHEELS) hydra-core==1.3.8 \
		omegaconf==2.3.1 PyYAML==6.0.4 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
		typing-inspection==0.4.5 typing-extensions==4.16.0 hjson==3.1.0 psutil==7.2.2 py-cpuinfo==9.0.0 \
		msgpack==1.2.4 einops==0.8.2 packaging==26.4 tqdm==4.70.1 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 \
		Pygments==2.21.0
	du -sh $(GPU_WHEELS)

clean:
	rm -rf $(VENV) build *.egg-info mutants
