"""One cell end to end through DeepSpeed on CPU: pruning reaches its target, accounting comes from the real masks,
and the invariances hold (sparsity 0 ≡ no pruner; resume ≡ uninterrupted, bit for bit; 2 workers ≈ 1 worker)."""
import json

import pytest
import torch
from conftest import build

from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog

GEOMETRIC = ["pruning=geometric", "pruning.sparsity=0.75", "pruning.start=0.25", "pruning.end=0.75"]


def run(overrides, **kwargs):
    config, resolved = build(overrides)
    return run_cell(config, resolved, **kwargs)


def prunable_tensors(state: dict) -> dict:
    """Linear kernels: block linears and the LM head (not embeddings, norms, biases)."""
    return {k: v for k, v in state.items()
            if k.endswith(".weight") and v.dim() == 2 and "embedding" not in k}


def losses(outcome) -> list:
    return [(r["step"], r.get("loss"), r.get("val_loss")) for r in MetricsLog(outcome.paths.metrics).read()]


def test_cell_prunes_to_target_and_writes_the_store(tiny):
    outcome = run(tiny + GEOMETRIC)
    assert outcome.status == "done"
    result, paths = outcome.result, outcome.paths
    plan = json.loads(paths.plan.read_text())
    assert {"t_start", "t_end", "total_steps", "avg_density", "sparsity", "start", "end", "dense_steps"} <= set(plan)
    assert result["steps"] == plan["total_steps"] > 24  # sparser steps are cheaper: more of them
    state = torch.load(paths.final_model, weights_only=True)
    kernels = prunable_tensors(state)
    assert "lm_head.weight" in kernels
    total = sum(v.numel() for v in kernels.values())
    nonzero = sum(int((v != 0).sum()) for v in kernels.values())
    assert total == result["prunable_params"] == result["initial_params"]
    assert nonzero == result["final_params"] == total - round(0.75 * total)
    assert (state["lm_head.weight"] == 0).any()
    for name in ("token_embedding.weight", "position_embedding.weight", "norm_final.weight"):
        assert (state[name] != 0).all(), f"{name} must never be pruned"
    records = MetricsLog(paths.metrics).read()
    counts = [r["params_current"] for r in records if "params_current" in r]
    assert counts == sorted(counts, reverse=True) and counts[0] == total and counts[-1] == nonzero
    assert result["final_params"] < result["avg_params"] < result["initial_params"]
    assert records[-1]["params_avg"] == result["avg_params"]
    # the masks keep round(kept_k·N) weights where the plan counts kept_k·N: at most half a weight apart at each step,
    # so on average too (recording N before a step's prune event instead would be off by ~1.4 % of N)
    assert abs(result["avg_params"] - plan["avg_density"] * total) <= 0.5
    assert {"step", "tokens", "loss", "lr", "params_current", "params_avg"} <= set(records[0])
    assert result["val_loss"] is not None and result["cell"]["sparsity"] == 0.75
    assert (paths.config.exists() and result["epochs"] > 0)


def test_sparsity_zero_gives_the_same_loss_curve_as_no_pruner(tiny, tmp_path):
    dense = run(tiny + ["pruning=none"])
    zero = run(tiny + ["pruning=geometric", "pruning.sparsity=0.0", f"results_dir={tmp_path / 'zero'}"])
    assert losses(dense) == losses(zero)
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (dense, zero))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tiny, tmp_path, stage):
    from orchestrator.cell.run import plan_cell
    from pruning.schedules import event_steps

    overrides = tiny + GEOMETRIC + [f"deepspeed=zero{stage}"]
    plan = plan_cell(build(overrides)[0])
    assert 12 in event_steps(plan.t_start, plan.t_end, plan.every)  # the resumed step prunes: moments must be linked
    whole = run(overrides)
    resumed_overrides = overrides + [f"results_dir={tmp_path / 'resumed'}"]
    assert run(resumed_overrides, stop_after_step=13).status == "interrupted"  # last checkpoint: step 12
    resumed = run(resumed_overrides)
    assert resumed.status == "done"
    assert losses(whole) == losses(resumed)
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("avg_params", "final_params", "final_loss", "val_loss", "steps"):
        assert whole.result[key] == resumed.result[key], key
    assert (whole.result["resumed_from_steps"], resumed.result["resumed_from_steps"]) == ([], [12])


def test_resume_inside_a_logging_window_reproduces_the_uninterrupted_run(tiny, tmp_path):
    """Losses are summed on the device between logged steps; a checkpoint (step 12) inside a window (steps 11-15)
    carries the partial sum, so the resumed run logs the same mean losses."""
    overrides = tiny + GEOMETRIC + ["train.log_every=5"]
    whole = run(overrides)
    resumed_overrides = overrides + [f"results_dir={tmp_path / 'resumed'}"]
    assert run(resumed_overrides, stop_after_step=13).status == "interrupted"
    resumed = run(resumed_overrides)
    logged = [record["step"] for record in MetricsLog(whole.paths.metrics).read() if "loss" in record]
    assert logged[:-1] == list(range(5, 5 * len(logged), 5)) and logged[-1] == whole.result["steps"]
    assert losses(whole) == losses(resumed)
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert whole.result["final_loss"] == resumed.result["final_loss"]


def test_a_finished_cell_is_skipped(tiny):
    first = run(tiny + ["pruning=none"])
    again = run(tiny + ["pruning=none"])
    assert again.status == "skipped" and again.result == first.result


def test_a_diverging_cell_is_a_result_not_a_crash(tiny):
    outcome = run(tiny + ["pruning=none", "optim.lr=1e6", "optim.warmup_fraction=0", "optim.grad_clip=0"])
    assert outcome.status == "diverged"
    assert outcome.result["final_loss"] is None and outcome.result["steps"] < outcome.result["planned_steps"]


def test_a_cell_that_diverges_between_logged_steps_before_a_prune_event_is_diverged(tiny):
    """A NaN loss between logged steps must not reach a prune event (ranking NaN weights raises): the window is read
    back at the event, and the cell is diverged, not failed."""
    outcome = run(tiny + GEOMETRIC + ["optim.lr=1e6", "optim.warmup_fraction=0", "optim.grad_clip=0",
                                      "train.log_every=50", "pruning.start=0.0"])
    assert outcome.status == "diverged" and outcome.result["final_loss"] is None
    assert MetricsLog(outcome.paths.metrics).read()[-1]["loss"] is None


def test_a_diverging_cell_is_caught_at_the_next_logged_step(tiny):
    """The loss is read back only every train.log_every steps: a NaN is caught there, within log_every steps."""
    outcome = run(tiny + ["pruning=none", "optim.lr=1e6", "optim.warmup_fraction=0", "optim.grad_clip=0",
                          "train.log_every=5"])
    assert outcome.status == "diverged" and outcome.result["final_loss"] is None
    last = MetricsLog(outcome.paths.metrics).read()[-1]
    assert last["loss"] is None and last["step"] % 5 == 0


@pytest.mark.slow
def test_two_gloo_workers_match_one_worker(tiny, tmp_path):
    one = run(tiny + GEOMETRIC)
    reports = []  # a spawned rank 0's progress reaches the caller's sink, relayed through shared memory
    two = run(tiny + GEOMETRIC + ["train.workers=2", f"results_dir={tmp_path / 'two'}"],
              report=lambda step, total: reports.append((step, total)))
    assert two.status == "done"
    assert reports and reports[-1] == (two.result["steps"],) * 2 and reports == sorted(reports)
    for (s1, l1, v1), (s2, l2, v2) in zip(losses(one), losses(two), strict=True):
        assert s1 == s2
        assert l1 == pytest.approx(l2, rel=1e-4, abs=1e-5) if l1 is not None else l2 is None
    assert one.result["final_params"] == two.result["final_params"]


def zero_partitions(checkpoint) -> tuple[dict, dict]:
    """(client state, weight name → [(rank, {"fp32": piece, "exp_avg": piece, "exp_avg_sq": piece}), ...] in rank
    order) from a ZeRO-1/2 checkpoint. Each rank saves its partition of each flat parameter group
    (`zero_pp_rank_<r>_mp_rank_00_optim_states.pt`): the fp32 master copies and AdamW moments of the weights laid end
    to end, cut into one slice per rank; `param_slice_mappings` says where a weight's piece lies in that slice, and a
    weight's pieces in rank order are the weight, flattened."""
    from orchestrator.cell.checkpoint import _deepspeed_checkpoint_globals

    pieces = {}
    with torch.serialization.safe_globals(_deepspeed_checkpoint_globals()):
        client = torch.load(checkpoint / "mp_rank_00_model_states.pt", weights_only=True)
        for rank in range(client["dp_world_size"]):
            state = torch.load(checkpoint / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt",
                               weights_only=True)["optimizer_state_dict"]
            for group, mapping in enumerate(state["param_slice_mappings"]):
                flat = {"fp32": state["single_partition_of_fp32_groups"][group]}
                flat |= {key: state["base_optimizer_state"]["state"][group][key] for key in ("exp_avg", "exp_avg_sq")}
                for name, where in mapping.items():
                    pieces.setdefault(name, []).append(
                        (rank, {key: values[where.start:where.start + where.numel] for key, values in flat.items()}))
    return client, pieces


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_pruned_weights_master_copies_and_moments_stay_zero_on_each_rank_under_zero_stage(tiny, stage):
    """The final weights alone prove little (apply_masks re-zeroes them after every step): each rank's ZeRO partition
    of the fp32 master copies and AdamW moments, saved in the last checkpoint (after the last prune event), must be
    zero at the pruned entries too, or the optimizer moves them and a resumed or fine-tuned cell starts from them."""
    outcome = run(tiny + GEOMETRIC + [f"deepspeed=zero{stage}", "train.workers=2"])
    assert outcome.status == "done"
    state = torch.load(outcome.paths.final_model, weights_only=True)
    nonzero = sum(int((v != 0).sum()) for v in prunable_tensors(state).values())
    assert nonzero == outcome.result["final_params"]

    checkpoint = outcome.paths.checkpoints / (outcome.paths.checkpoints / "latest").read_text().strip()
    client, pieces = zero_partitions(checkpoint)
    assert client["dp_world_size"] == 2 and client["step"] > json.loads(outcome.paths.plan.read_text())["t_end"]
    masks, ranks_holding_pruned = client["pruner"]["masks"], set()
    assert sum(int(keep.sum()) for keep in masks.values()) == outcome.result["final_params"]
    for name, keep in masks.items():
        keep, offset, whole = keep.flatten(), 0, {}
        for rank, copies in pieces[name]:
            n = len(copies["fp32"])
            pruned = ~keep[offset:offset + n]
            for key, values in copies.items():
                assert (values[pruned] == 0).all(), f"{name}: rank {rank}'s {key} is live at pruned entries"
                whole.setdefault(key, []).append(values)
            ranks_holding_pruned |= {rank} if pruned.any() else set()
            offset += n
        assert offset == keep.numel(), name
        for key, values in whole.items():
            assert (torch.cat(values)[keep] != 0).any(), f"{name}: {key} is all zero (the check could not fail)"
    assert ranks_holding_pruned == {0, 1}


def test_wandb_offline_run_lives_in_the_cell_directory_under_a_run_id_salted_per_store(tiny, tmp_path):
    from orchestrator.store.identity import store_salt, wandb_run_id

    outcome = run(tiny + ["pruning=none", "wandb.mode=offline"])
    runs = list((outcome.paths.root / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
    salt = store_salt(tmp_path / "results")  # made by the cell: .store.json in the store
    assert runs[0].name.endswith("-" + wandb_run_id(salt, "default", outcome.result["cell_id"]))
    other = run([*tiny, "pruning=none", "wandb.mode=offline", f"results_dir={tmp_path / 'other'}"])
    assert other.result["cell_id"] == outcome.result["cell_id"]  # the same cell in another store: another W&B run
    [other_run] = (other.paths.root / "wandb").glob("offline-run-*")
    assert other_run.name.rsplit("-", 1)[1] != runs[0].name.rsplit("-", 1)[1]


def test_the_wandb_run_gets_the_resolved_budget_the_plan_and_no_empty_tags(tiny, monkeypatch):
    import orchestrator.cell.worker

    seen = {}

    class Recorder(orchestrator.cell.worker.Tracker):
        def __init__(self, settings, **kwargs):
            seen.update(kwargs)
            super().__init__(settings, **kwargs)

    monkeypatch.setattr(orchestrator.cell.worker, "Tracker", Recorder)
    outcome = run(tiny + GEOMETRIC + ["budget.dense_steps=null", "budget.tokens_per_param=0.05"])
    config = seen["config"]
    assert config["budget"]["dense_steps"] == outcome.result["cell"]["dense_steps"] > 0
    assert config["plan"]["total_steps"] == outcome.result["planned_steps"]
    assert config["model"]["vocab_size"] == outcome.result["vocab_size"]
    assert seen["tags"] and not any(tag.endswith("=None") for tag in seen["tags"])


def test_wandb_disabled_writes_nothing(tiny):
    outcome = run(tiny + ["pruning=none", "wandb.mode=disabled"])
    assert not (outcome.paths.root / "wandb").exists()


def test_a_cell_that_raises_is_recorded_as_failed(tiny, monkeypatch):
    import orchestrator.cell.run

    def broken_worker(*args, **kwargs):
        raise RuntimeError("worker exploded")

    monkeypatch.setattr(orchestrator.cell.run, "run_worker", broken_worker)
    config, resolved = build(tiny + ["pruning=none"])
    with pytest.raises(RuntimeError, match="worker exploded"):
        run_cell(config, resolved)
    paths = orchestrator.cell.run.CellPaths.of(config.results_dir, config.sweep, orchestrator.cell.run.cell_id(config))
    result = json.loads(paths.result.read_text())
    assert result["status"] == "failed" and "worker exploded" in result["error"]


def test_a_corpus_shorter_than_the_context_is_rejected_before_writing(tiny, tmp_path):
    from orchestrator.data import DataError

    corpus = tmp_path / "short.txt"
    corpus.write_text("far too short for a context of 32 tokens")
    config, resolved = build(tiny + ["data=text", f"data.path={corpus}"])
    with pytest.raises(DataError, match="model.seq_len"):
        run_cell(config, resolved)
    assert not (tmp_path / "results" / "default").exists()
