"""Typed configs, one dataclass per config group, validated when they are built.

Hydra composes the YAML in conf/ against these schemas (registered in `register_configs`), so a wrong type or an
unknown key fails at composition (a key forced in with `+key=` fails in `build_config`); `OmegaConf.to_object` then
builds the dataclasses and every `__post_init__` checks ranges and combinations, raising `ConfigError` with the
field's full path and what is allowed. Nothing is computed or written before this passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

from omegaconf import MISSING

from model.presets import PRESETS
from orchestrator.model_size import linear_params
from pruning.schedules import SCHEDULES


class ConfigError(ValueError):
    """A config value is out of range or contradicts another; the message names the field."""


def _require(ok: bool, path: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{path} must be {allowed}, got {value!r}")


def _positive_int(path: str, value: Any) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, path, "an integer >= 1", value)


def _one_of(path: str, value: Any, allowed: tuple) -> None:
    _require(value in allowed, path, f"one of {list(allowed)}", value)


PRUNING_SCHEDULES = ("none",) + tuple(SCHEDULES) + ("static",)  # static: SPDF (pruning/static.py)
WANDB_MODES = ("offline", "online", "disabled")
DEVICES = ("auto", "cpu", "cuda")
DATA_FORMATS = ("text", "tokens")
NAMED_TOKENIZERS = ("byte", "enwiki-bpe")  # orchestrator/data/tokenizer.py; any other value is a tokenizer.json
TOKEN_DTYPES = ("uint16", "uint32")
PRECISIONS = ("auto", "fp32", "bf16", "bf16_autocast")
BUDGET_COMPUTES = ("linear", "total")  # what a step's compute counts: the prunable linear weights, or + attention


def resolved_precision(precision: str, on_gpu: bool) -> str:
    """`auto` where the cell runs: bf16 compute under torch.autocast over fp32 weights on a GPU (the faster of the
    GPU paths measured, see the README), fp32 on a CPU."""
    if precision != "auto":
        return precision
    return "bf16_autocast" if on_gpu else "fp32"


@dataclass
class ModelConfig:
    preset: str = "micro"
    seq_len: Optional[int] = None  # training context; None = the preset's max_seq_len
    vocab_multiple: int = 1  # pad the data's vocabulary up to a multiple of this (64 is faster on GPUs)

    def __post_init__(self) -> None:
        _one_of("model.preset", self.preset, tuple(PRESETS))
        _positive_int("model.vocab_multiple", self.vocab_multiple)
        if self.seq_len is not None:
            limit = PRESETS[self.preset].max_seq_len
            _positive_int("model.seq_len", self.seq_len)
            _require(self.seq_len <= limit, "model.seq_len", f"<= {limit} (the {self.preset} preset's maximum)",
                     self.seq_len)

    @property
    def context(self) -> int:
        return self.seq_len if self.seq_len is not None else PRESETS[self.preset].max_seq_len


@dataclass
class DataConfig:
    # None = the embedded English Wikipedia sample (data=embedded sets it). MISSING, not None, by default: Hydra
    # does not let data=text's `path: ???` replace a value that is already there, so data=text would train on the
    # embedded sample; with no default, data=text without data.path=… is rejected.
    path: Optional[str] = MISSING
    format: str = "text"  # text: read and tokenized here; tokens: flat token files tokenized elsewhere (data=tokens)
    tokenizer: str = "byte"
    val_fraction: float = 0.05
    cache_dir: Optional[str] = None  # None = <results_dir>/.data_cache
    # data=tokens only: override the tokens.json sidecar
    dtype: Optional[str] = None
    vocab_size: Optional[int] = None
    eos_id: Optional[int] = None

    def __post_init__(self) -> None:
        _one_of("data.format", self.format, DATA_FORMATS)
        _require(self.tokenizer in NAMED_TOKENIZERS or str(self.tokenizer).endswith(".json"), "data.tokenizer",
                 f"one of {list(NAMED_TOKENIZERS)} or the path of a tokenizers .json file", self.tokenizer)
        _require(0.0 < self.val_fraction < 0.5, "data.val_fraction", "in (0, 0.5)", self.val_fraction)
        if self.format == "tokens":
            _require(self.tokenizer == "byte", "data.tokenizer", "byte (unused) with data=tokens: the token files are "
                     "tokenized already", self.tokenizer)
            _require(self.path is not None, "data.path", "the token files (a file, a directory or a glob) with "
                     "data=tokens", self.path)
            if self.dtype is not None:
                _one_of("data.dtype", self.dtype, TOKEN_DTYPES)
            if self.vocab_size is not None:
                _require(isinstance(self.vocab_size, int) and self.vocab_size >= 2, "data.vocab_size",
                         "an integer >= 2", self.vocab_size)
            if self.eos_id is not None:
                _require(isinstance(self.eos_id, int) and self.eos_id >= 0, "data.eos_id", "an integer >= 0",
                         self.eos_id)
        else:
            for name in ("dtype", "eos_id"):
                _require(getattr(self, name) is None, f"data.{name}", "null unless data=tokens (data.format=tokens)",
                         getattr(self, name))
            _require(self.vocab_size is None or self.tokenizer != "byte", "data.vocab_size", "null for byte-level "
                     "text (its vocabulary is the preset's)", self.vocab_size)
            if self.vocab_size is not None:
                _require(isinstance(self.vocab_size, int) and self.vocab_size >= 2, "data.vocab_size",
                         "an integer >= 2 (the tokenizer's vocabulary)", self.vocab_size)


@dataclass
class PruningConfig:
    schedule: str = "none"
    sparsity: float = 0.0  # target fraction of prunable weights that are zero at the end
    start: float = 0.25  # fraction of the compute budget at which pruning starts
    end: float = 0.75  # fraction of the compute budget at which pruning ends
    every: int = 100  # steps between prune events (paper: 100)

    def __post_init__(self) -> None:
        _one_of("pruning.schedule", self.schedule, PRUNING_SCHEDULES)
        _require(0.0 <= self.sparsity < 1.0, "pruning.sparsity", "in [0, 1)", self.sparsity)
        _require(0.0 <= self.start <= 1.0, "pruning.start", "in [0, 1]", self.start)
        _require(0.0 <= self.end <= 1.0, "pruning.end", "in [0, 1]", self.end)
        _positive_int("pruning.every", self.every)
        if self.schedule == "none":
            _require(self.sparsity == 0.0, "pruning.sparsity", "0 when pruning.schedule is 'none'", self.sparsity)
        elif self.schedule not in ("one_shot", "static"):
            _require(self.start < self.end, "pruning.end", f"> pruning.start ({self.start}) for a gradual schedule",
                     self.end)


@dataclass
class BudgetConfig:
    """The compute budget C in dense-equivalent training steps: given directly (`dense_steps`), or from the
    preset's size as `tokens_per_param` × (linear parameters of the dense model) ÷ (tokens per step).

    `compute` says what a step costs. linear (the paper's definition): 6 FLOPs per nonzero prunable weight per token,
    so a step at density ρ costs ρ dense steps. total: the attention scores' FLOPs too
    (`orchestrator.model_size.attention_flops_per_token`, never pruned), a share q of a dense step, so a step costs
    q + (1 - q)·ρ and a sparse cell trains fewer steps."""

    dense_steps: Optional[int] = 1000
    tokens_per_param: Optional[float] = None  # e.g. 20 (Chinchilla's ratio) = 1x, 40 = 2x
    compute: str = "linear"  # linear | total: the FLOPs the planner holds equal (see above)

    def __post_init__(self) -> None:
        _one_of("budget.compute", self.compute, BUDGET_COMPUTES)
        _require((self.dense_steps is None) != (self.tokens_per_param is None), "budget.dense_steps",
                 "set when budget.tokens_per_param is null, and null when it is set (exactly one of the two)",
                 self.dense_steps)
        if self.dense_steps is not None:
            _positive_int("budget.dense_steps", self.dense_steps)
        else:
            _require(self.tokens_per_param > 0, "budget.tokens_per_param", "> 0", self.tokens_per_param)


@dataclass
class TrainConfig:
    batch_size: int = 32  # global sequences per step, split across workers
    workers: int = 1  # processes per cell (DeepSpeed data-parallel world size)
    eval_every: int = 100
    eval_batches: int = 4
    log_every: int = 10
    checkpoint_every: int = 100
    device: str = "auto"  # auto = cuda when available, else cpu
    threads: Optional[int] = None  # torch threads per worker; None: $OMP_NUM_THREADS, else idle cores, // workers
    max_restarts: int = 2  # restarts of a worker group whose process died, each from the last checkpoint
    compile: bool = False  # torch.compile the model's forward (and so its backward); see the README before use
    # GPUs Ray reserves per worker on a cluster: a fraction packs several small cells on one GPU (0.25: four cells)
    gpus_per_worker: float = 1.0

    def __post_init__(self) -> None:
        _require(isinstance(self.max_restarts, int) and self.max_restarts >= 0, "train.max_restarts",
                 "an integer >= 0", self.max_restarts)
        for name in ("batch_size", "workers", "eval_every", "eval_batches", "log_every", "checkpoint_every"):
            _positive_int(f"train.{name}", getattr(self, name))
        _require(self.batch_size % self.workers == 0, "train.batch_size",
                 f"divisible by train.workers ({self.workers})", self.batch_size)
        _one_of("train.device", self.device, DEVICES)
        _require(isinstance(self.compile, bool), "train.compile", "true or false", self.compile)
        _require(isinstance(self.gpus_per_worker, (int, float)) and not isinstance(self.gpus_per_worker, bool)
                 and self.gpus_per_worker > 0
                 and (self.gpus_per_worker <= 1 or float(self.gpus_per_worker).is_integer()),
                 "train.gpus_per_worker", "a fraction in (0, 1] (workers sharing a GPU) or a whole number of GPUs",
                 self.gpus_per_worker)
        if self.threads is not None:
            _positive_int("train.threads", self.threads)


LR_SCHEDULES = ("cosine", "wsd")  # orchestrator/cell/lr_schedule.py


@dataclass
class OptimConfig:
    """AdamW and its learning-rate schedule (orchestrator/cell/lr_schedule.py). cosine (the paper's): warmup over
    `warmup_fraction` of the cell's steps T, cosine to min_lr_ratio × lr at T. wsd: warmup over `warmup_steps` (or,
    when null, `warmup_fraction` of the dense budget C: never of T, so cells of different lengths share it), the
    peak held, then a linear decay to min_lr_ratio × lr over the last `decay_fraction` of the cell's steps."""

    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the schedule decays to min_lr_ratio × lr
    warmup_fraction: float = 0.05  # cosine: of the cell's steps T; wsd: of the dense budget C (budget.dense_steps)
    schedule: str = "cosine"  # cosine | wsd
    decay_fraction: float = 0.2  # wsd: the decay spans this fraction of the cell's last steps
    warmup_steps: Optional[int] = None  # wsd: the warmup in steps (null: warmup_fraction × C)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _require(self.lr > 0, "optim.lr", "> 0", self.lr)
        _require(0.0 <= self.min_lr_ratio <= 1.0, "optim.min_lr_ratio", "in [0, 1]", self.min_lr_ratio)
        _require(0.0 <= self.warmup_fraction < 1.0, "optim.warmup_fraction", "in [0, 1)", self.warmup_fraction)
        _require(0.0 <= self.beta1 < 1.0, "optim.beta1", "in [0, 1)", self.beta1)
        _require(0.0 <= self.beta2 < 1.0, "optim.beta2", "in [0, 1)", self.beta2)
        _require(self.eps > 0, "optim.eps", "> 0", self.eps)
        _require(self.weight_decay >= 0, "optim.weight_decay", ">= 0", self.weight_decay)
        _require(self.grad_clip >= 0, "optim.grad_clip", ">= 0 (0 disables clipping)", self.grad_clip)
        _one_of("optim.schedule", self.schedule, LR_SCHEDULES)
        _require(0.0 < self.decay_fraction <= 1.0, "optim.decay_fraction", "in (0, 1]", self.decay_fraction)
        if self.warmup_steps is not None:
            _require(self.schedule == "wsd", "optim.warmup_steps", "null with optim.schedule=cosine (its warmup is "
                     "optim.warmup_fraction of the cell's steps); set optim.schedule=wsd to give it in steps",
                     self.warmup_steps)
            _require(isinstance(self.warmup_steps, int) and not isinstance(self.warmup_steps, bool)
                     and self.warmup_steps >= 0, "optim.warmup_steps", "an integer >= 0", self.warmup_steps)

    def wsd_warmup_steps(self, dense_steps: int) -> int:
        """W of the wsd schedule: optim.warmup_steps, else warmup_fraction × C rounded (never a function of T)."""
        return self.warmup_steps if self.warmup_steps is not None else round(self.warmup_fraction * dense_steps)


@dataclass
class DeepSpeedConfig:
    zero_stage: int = 0
    # fp32; bf16 = DeepSpeed's bf16 (bf16 weights, fp32 masters); bf16_autocast = DeepSpeed's torch_autocast (bf16
    # compute over fp32 weights and optimizer); auto = bf16_autocast on GPU, fp32 on CPU
    precision: str = "auto"

    def __post_init__(self) -> None:
        # ZeRO-3 partitions every weight across ranks: the pruner's whole-tensor masks, the parameter accounting
        # and final_model.pt would need gathering first; not supported yet.
        _one_of("deepspeed.zero_stage", self.zero_stage, (0, 1, 2))
        _one_of("deepspeed.precision", self.precision, PRECISIONS)


@dataclass
class WandbConfig:
    mode: str = "offline"  # offline runs live inside the cell directory; `wandb sync` uploads them later
    project: str = "pruning-journey"
    entity: Optional[str] = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _one_of("wandb.mode", self.mode, WANDB_MODES)
        _require(bool(self.project.strip()), "wandb.project", "a non-empty name", self.project)


@dataclass
class FinetuneConfig:
    """Dense fine-tuning after pre-training (SPDF): the mask is dropped and every weight trains."""

    steps: int = 0  # 0 = no fine-tuning
    lr: float = 3e-4  # peak; warmup then cosine over the fine-tuning steps (to optim.min_lr_ratio × lr)
    warmup_fraction: float = 0.1
    data_path: Optional[str] = None  # None = the head of the pre-training corpus's held-out split
    eval_fraction: float = 0.25  # with data_path None: the tail of the held-out split kept for evaluation

    def __post_init__(self) -> None:
        _require(isinstance(self.steps, int) and self.steps >= 0, "finetune.steps", "an integer >= 0", self.steps)
        _require(self.lr > 0, "finetune.lr", "> 0", self.lr)
        _require(0.0 <= self.warmup_fraction < 1.0, "finetune.warmup_fraction", "in [0, 1)",
                 self.warmup_fraction)
        _require(0.0 < self.eval_fraction < 1.0, "finetune.eval_fraction", "in (0, 1)", self.eval_fraction)


STRUCTURED_METHODS = ("none", "depth", "width", "2:4")


@dataclass
class StructuredConfig:
    """P²: structured pruning of a trained dense model (the cell's own config with `structured.method=none`, run
    first as a regular cell of the same sweep), then `post_steps` steps of continued training."""

    method: str = "none"  # none | depth (ShortGPT) | width (Minitron) | 2:4 (semi-structured, ratio 0.5)
    ratio: float = 0.25  # ρ: the share of the blocks' linear weights removed (nearest achievable; 2:4 ignores it)
    post_steps: int = 0  # post-training steps (D = post_steps × tokens per step)
    lr: float = 3e-4  # constant after warmup, so that every point of the curve is a post-training of that length
    warmup_fraction: float = 0.05

    def __post_init__(self) -> None:
        _one_of("structured.method", self.method, STRUCTURED_METHODS)
        _require(0.0 < self.ratio < 1.0, "structured.ratio", "in (0, 1)", self.ratio)
        _require(isinstance(self.post_steps, int) and self.post_steps >= 0, "structured.post_steps",
                 "an integer >= 0", self.post_steps)
        if self.method != "none":
            _positive_int("structured.post_steps", self.post_steps)
        _require(self.lr > 0, "structured.lr", "> 0", self.lr)
        _require(0.0 <= self.warmup_fraction < 1.0, "structured.warmup_fraction", "in [0, 1)",
                 self.warmup_fraction)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    structured: StructuredConfig = field(default_factory=StructuredConfig)
    seed: int = 0
    results_dir: str = "results"
    sweep: str = "default"  # the store groups cells by sweep: RESULTS_DIR/<sweep>/<cell_id>/
    dry_run: bool = False  # compose, validate, plan and write plan.json; train nothing
    # wsd only: a sweep trains each dense prefix its cells share once, as a trunk cell, and forks them from its
    # checkpoints (orchestrator/sweep/trunks.py); a child is bit-identical to the cell trained alone
    share_trunks: bool = False

    def model_vocab_size(self) -> int | None:
        """The model's vocabulary as far as the config knows it: the preset's for byte-level text; for data=tokens or
        a tokenizer file, data.vocab_size (None when unset: known once the data is read), padded up to
        model.vocab_multiple. The cell's own count (orchestrator/cell/job.py) is the one it trains with."""
        data, multiple = self.data, self.model.vocab_multiple
        if data.format == "text" and data.tokenizer == "byte":
            return PRESETS[self.model.preset].vocab_size
        return None if data.vocab_size is None else -(-data.vocab_size // multiple) * multiple

    def __post_init__(self) -> None:
        _canonical_floats(self)
        if self.budget.dense_steps is None:  # resolve C from tokens per parameter, once, at validation
            vocab = self.model_vocab_size()
            _require(vocab is not None, "data.vocab_size", "set when budget.tokens_per_param sizes a model whose "
                     "vocabulary is the data's (data=tokens, or a tokenizer file): the LM head enters the parameter "
                     "count; or give budget.dense_steps instead", None)
            tokens_per_step = self.train.batch_size * self.model.context
            self.budget.dense_steps = max(1, round(self.budget.tokens_per_param
                                                   * linear_params(self.model.preset, vocab) / tokens_per_step))
        _require(self.pruning.schedule != "static" or self.model_vocab_size() is not None, "data.vocab_size",
                 "set with pruning=static when the vocabulary is the data's (data=tokens, or a tokenizer file): the "
                 "dense LM head's share of the weights sets the cell's compute", None)
        _require(self.budget.compute == "linear" or self.model_vocab_size() is not None, "data.vocab_size",
                 "set with budget.compute=total when the vocabulary is the data's (data=tokens, or a tokenizer "
                 "file): the LM head's FLOPs set the attention's share of a step", None)
        _require(self.seed >= 0, "seed", ">= 0", self.seed)
        _require(bool(self.results_dir.strip()), "results_dir", "a non-empty path", self.results_dir)
        _require(bool(self.sweep.strip()) and "/" not in self.sweep, "sweep", "a non-empty name without '/'",
                 self.sweep)
        _require(self.finetune.data_path is None or self.data.format == "text", "finetune.data_path",
                 "null with data=tokens (fine-tuning then uses the held-out split; a separate fine-tuning corpus "
                 "is read as text, in another vocabulary)", self.finetune.data_path)
        if self.structured.method != "none":  # P²: the base is a dense pre-training, pruned afterwards
            _require(self.pruning.schedule == "none", "pruning", "none (pruning=none) with structured.method "
                     f"{self.structured.method!r}: the base model is trained dense", self.pruning.schedule)
            _require(self.finetune.steps == 0, "finetune.steps", f"0 with structured.method "
                     f"{self.structured.method!r} (post-training is structured.post_steps)", self.finetune.steps)
        _require(self.pruning.every <= self.budget.dense_steps, "pruning.every",
                 f"<= budget.dense_steps ({self.budget.dense_steps})", self.pruning.every)
        _require(not self.share_trunks or self.optim.schedule == "wsd", "share_trunks",
                 "false unless optim.schedule=wsd (under the cosine schedule a cell's learning rate depends on its "
                 f"length from the first step, so no two cells share a prefix); got optim.schedule="
                 f"{self.optim.schedule!r} with share_trunks=true", self.share_trunks)
        if self.optim.schedule == "wsd":  # the warmup ends before a cell of C steps starts its decay
            warmup, dense = self.optim.wsd_warmup_steps(self.budget.dense_steps), self.budget.dense_steps
            stable_end = dense - round(self.optim.decay_fraction * dense)
            _require(warmup <= stable_end, "optim.warmup_steps" if self.optim.warmup_steps is not None
                     else "optim.warmup_fraction", f"a warmup of at most {stable_end} steps with optim.schedule=wsd "
                     f"(budget.dense_steps {dense} less the decay, optim.decay_fraction {self.optim.decay_fraction})",
                     self.optim.warmup_steps if self.optim.warmup_steps is not None else self.optim.warmup_fraction)


def _canonical_floats(section: Any) -> None:
    """Round every float field to 12 significant digits, in place: Hydra's `range(0.2,0.9,0.3)` gives
    0.7999999999999999, which must be the same grid coordinate (and the same cell id) as 0.8."""
    for spec in fields(section):
        value = getattr(section, spec.name)
        if isinstance(value, float):
            setattr(section, spec.name, float(f"{value:.12g}"))
        elif is_dataclass(value):
            _canonical_floats(value)


def reject_unknown_keys(cfg, schema: type = Config, prefix: str = "") -> None:
    """ConfigError for a key the schema does not have. Hydra's `+key=value` (and `++`) adds keys even to a typed
    config, and `OmegaConf.to_object` would keep or drop them silently: `+foo=1` must not train a default cell."""
    from omegaconf import OmegaConf

    allowed = sorted(f.name for f in fields(schema))
    for key in cfg.keys():
        if key not in allowed:
            where = prefix.rstrip(".") or "the top level"
            raise ConfigError(f"{prefix}{key} is not a config key; the keys of {where} are {allowed}")
        child_schema = OmegaConf.get_type(cfg, key)
        if child_schema is not None and is_dataclass(child_schema):
            reject_unknown_keys(cfg[key], child_schema, f"{prefix}{key}.")


def build_config(cfg) -> Config:
    """The typed, validated Config from a composed DictConfig; raises ConfigError naming the field."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    reject_unknown_keys(cfg)
    try:
        return OmegaConf.to_object(cfg)
    except MissingMandatoryValue as error:
        key = getattr(error, "full_key", None) or "a config value"
        raise ConfigError(f"{key} must be set, got ??? (no value)") from None
    except OmegaConfBaseException as error:
        if isinstance(error.__cause__, ConfigError):
            raise error.__cause__ from None
        raise ConfigError(str(error)) from None


def register_configs() -> None:
    """Register the schema with Hydra's ConfigStore; conf/config.yaml lists `config_schema` first."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="config_schema", node=Config)
