"""A model-agnostic training loop, the configuration of a model, and the cache of trained models keyed by their
full configuration.

The loop knows nothing of the model or the data: it draws a batch, splits it into cache-sized chunks,
accumulates the gradient of `loss(model, chunk, generator)` and steps Adam with warmup and cosine decay.

A configuration (ModelConfig: toy.ToyConfig, images.ImageConfig) holds everything that determines a model: it
builds the network and picks the training set; `models` trains (or loads) the models of a list of them.

The cache stores one file per configuration, named by a hash of the configuration. Files are written
atomically (temporary file, then rename) and begin with a digest of their payload, so a truncated or corrupt
file is detected, reported and retrained, never used. With MODEINTERP_CACHE=readonly (set by the test command)
a missing or damaged model is an error instead of a training run: that is how CI knows the shipped models still
match the notebooks' defaults. MODEINTERP_CACHE=readwrite, empty or unset is the default; any other value is an
error. Missing models train in worker processes that stop with their caller (see support.parallel).

Checkpoints. A run trained for the cache (train_model with cache_dir, as `models` does) saves its whole state every
CHECKPOINT_SECONDS (5 minutes; $MODEINTERP_CHECKPOINT_SECONDS overrides it) to <cache_dir>/checkpoints/, named like
its model file (checkpoint_path), atomically and with the same digest header: weights, EMA, optimiser, learning-rate
schedule, step, the losses so far and the random state of every process (see Checkpoint). A rerun of an interrupted
run (SIGINT, SIGTERM, SIGKILL, a power cut) resumes from it and ends with the very model, and loss history, that an
uninterrupted run gives: saving draws no random number and changes no tensor. A checkpoint of another configuration,
process count or device, or a damaged one, is reported and training starts over. The checkpoint is removed once the
model file is stored. MODEINTERP_CACHE=readonly trains nothing, so it resumes nothing either.
"""
import contextlib
import hashlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import as_completed
from copy import deepcopy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..support import parallel, params
from .diffusion import eps_loss, make_schedule, sample_t
from ..support.files import atomic
from .noise import sample_seed
from ..support.runtime import generator, show_progress

CACHE_ENV = "MODEINTERP_CACHE"
CACHE_MODES = ("readwrite", "readonly")  # readwrite: the default, also when unset or empty
CACHE_VERSION = 1  # bump when training code changes what a configuration produces
MAGIC = b"modeinterp-model v1 sha256="
CHECKPOINT_ENV = "MODEINTERP_CHECKPOINT_SECONDS"
CHECKPOINT_SECONDS = 300.0  # how often a training run saves its state (see Checkpoint), unless $CHECKPOINT_ENV says


DECAYS = ("cosine", "constant")


def fit(model: torch.nn.Module, draw_batch: Callable, loss: Callable, steps: int, lr: float,
        generator: torch.Generator, warmup: float = 0.05, chunk: int = 2048, progress: bool = True,
        bf16: bool = False, ema: float | None = None, decay: str = "cosine",
        callback: Callable[[int, torch.nn.Module], None] | None = None,
        checkpoint: "Checkpoint | None" = None) -> list[float]:
    """Train with Adam, linear warmup over a `warmup` share of the steps, then cosine decay to 0 (or, with
    decay="constant", the peak rate to the end: checkpoints along the way are then trained alike).

    draw_batch(generator) returns one batch (a tensor); loss(model, chunk, generator) returns a scalar.
    bf16=True computes the forward pass under bfloat16 autocast (1.5-2.5x faster for the U-Net on a CPU).
    ema: if given, the model ends with the exponential moving average of its weights (decay `ema` per step).
    callback(step, averaged model) is called after every step (steps counted from 1), e.g. to keep checkpoints.
    checkpoint: the run resumes from its saved state, if any, and saves its state there every checkpoint.seconds
    (see Checkpoint); the callback then sees only the steps after the resumed one. It changes nothing computed.
    Returns the loss per step. In one of several processes (modeinterp.parallel) each process trains on its slice
    of every batch and the gradients are averaged (see _distributed); one process computes exactly what it
    computed before there were several.
    """
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}; got {decay!r}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    averaged = None if ema is None else AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema))
    n_warm = max(1, int(warmup * steps))
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * (s - n_warm) / max(1, steps - n_warm)))  # noqa: E731
    lr_at = lambda s: (s + 1) / n_warm if s < n_warm else (cosine(s) if decay == "cosine" else 1.0)  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    engine = _distributed(model, generator, bf16) if parallel.active() else _single(model, generator, bf16)
    stateful = {"model": model, "opt": opt, "sched": sched, **({} if averaged is None else {"ema": averaged})}
    generators = [generator, engine.generator]
    start, history = (0, []) if checkpoint is None else checkpoint.restore(engine, stateful, generators)
    engine.module.train()
    with tqdm(range(start, steps), initial=start, total=steps, desc=engine.desc,
              disable=not (show_progress(progress) and engine.main), mininterval=1.0) as bar:
        for step in bar:
            batch = draw_batch(generator)
            parts = engine.rows(batch).split(chunk)
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for i, part in enumerate(parts):
                with engine.sync(i + 1 == len(parts)), engine.autocast():
                    share = len(part) * engine.world / len(batch)  # of the global batch's mean loss
                    value = loss(engine.module, part, engine.generator).float() * share
                engine.backward(value)
                total += value.item()
            opt.step()
            sched.step()
            if averaged is not None:
                averaged.update_parameters(model)
            history.append(total)
            if callback is not None and engine.main:
                callback(step + 1, model if averaged is None else averaged.module)
            if checkpoint is not None and step + 1 < steps:
                checkpoint.keep(step + 1, engine, stateful, generators, history)
            if step % 100 == 0:
                bar.set_postfix(loss=f"{total:.4f}", refresh=False)
    if averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    model.eval()
    return engine.reduce(history)


@dataclass
class _Engine:
    """What fit's loop needs to know about the processes it runs in."""

    module: torch.nn.Module  # what the loss calls: the model, or its DistributedDataParallel wrapper
    generator: torch.Generator  # the loss's randomness (t, eps)
    world: int
    main: bool  # this process reports and calls back
    desc: str
    rows: Callable  # the global batch -> this process's rows
    sync: Callable  # sync(last chunk of the step) -> a context; gradients are averaged on the last one
    autocast: Callable
    backward: Callable
    reduce: Callable  # the losses per step -> averaged over the processes
    agree: Callable  # a flag in each process -> whether it is raised in any (the same answer in every process)
    gather: Callable  # an object in each process -> all of them on the main process, in rank order


def _single(model, generator, bf16) -> _Engine:
    """One process: the model itself, the batch whole, the caller's generator."""
    return _Engine(model, generator, 1, True, "training", lambda batch: batch, lambda last: contextlib.nullcontext(),
                   lambda: torch.autocast(generator.device.type, dtype=torch.bfloat16, enabled=bf16),
                   lambda value: value.backward(), lambda history: history, lambda flag: flag, lambda obj: [obj])


def _distributed(model, generator, bf16) -> _Engine:
    """One of several processes (parallel.run): every process draws the same global batch and trains on its own
    slice; accelerate's DistributedDataParallel averages the gradients, so a step is the one-process step on that
    batch up to rounding. The loss draws from a stream of its own per process; mixed precision is accelerate's;
    the EMA is kept in every process (the weights are the same)."""
    from accelerate import Accelerator

    acc = Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=generator.device.type == "cpu")
    ddp = acc.prepare_model(model)
    index, world = acc.process_index, acc.num_processes

    def rows(batch):
        if len(batch) < world:
            raise ValueError(f"a batch of {len(batch)} rows cannot be split over {world} processes")
        return batch.tensor_split(world)[index]

    local = torch.Generator(generator.device).manual_seed(sample_seed(generator.initial_seed(), index))
    return _Engine(ddp, local, world, acc.is_main_process, f"training ({world} processes)", rows,
                   lambda last: contextlib.nullcontext() if last else acc.no_sync(ddp), acc.autocast, acc.backward,
                   lambda history: acc.reduce(torch.tensor(history, device=acc.device), "mean").tolist(),
                   lambda flag: bool(acc.reduce(torch.tensor(float(flag), device=acc.device), "sum")), parallel.gather)


def checkpoint_seconds() -> float:
    """Seconds between a training run's checkpoints: $MODEINTERP_CHECKPOINT_SECONDS (0: after every step, inf:
    never), else CHECKPOINT_SECONDS."""
    value = os.environ.get(CHECKPOINT_ENV) or str(CHECKPOINT_SECONDS)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise ValueError(f"{CHECKPOINT_ENV} must be a number of seconds (0 or more); got {value!r}")
    return seconds


@dataclass
class Checkpoint:
    """Where a training run (fit) keeps its state so that a rerun resumes it bit for bit: weights, EMA, optimiser,
    schedule, step, the losses so far and every process's random states, saved atomically (see save) every
    `seconds`. `config` (a configuration's dict) is stored with it: another run's checkpoint is never resumed."""

    path: Path
    config: dict
    seconds: float = field(default_factory=checkpoint_seconds)
    last: float = 0.0  # time.monotonic() of the last save, or of the start

    def restore(self, engine: _Engine, stateful: dict, generators: list) -> tuple[int, list[float]]:
        """Load the saved state into `stateful` (name -> object with load_state_dict) and `generators`; return the
        step it was saved after and this process's losses so far: (0, []) without a usable checkpoint."""
        self.last = time.monotonic()
        saved = self._read(dict(processes=engine.world, device=generators[0].device.type))
        if saved is None:
            return 0, []
        for name, obj in stateful.items():
            obj.load_state_dict(saved[name])
        own = saved["own"][parallel.rank()[0]]
        for g, state in zip(generators, own["generators"]):
            g.set_state(state)
        torch.set_rng_state(own["torch"])
        return saved["step"], own["loss"]

    def keep(self, step: int, engine: _Engine, stateful: dict, generators: list, history: list[float]) -> None:
        """Save the state after `step` steps once `seconds` have passed since the last save (the processes decide
        together, each gives its random states and losses); it draws no random number and changes no tensor."""
        if not engine.agree(time.monotonic() - self.last >= self.seconds):
            return
        own = engine.gather({"generators": [g.get_state() for g in generators], "torch": torch.get_rng_state(),
                             "loss": history})
        if engine.main:
            run = dict(processes=engine.world, device=generators[0].device.type)
            save({"config": self.config, "run": run, "step": step, "own": own,
                  **{name: obj.state_dict() for name, obj in stateful.items()}}, self.path)
        self.last = time.monotonic()

    def _read(self, run: dict) -> dict | None:
        """The saved state if it is of this configuration and `run` (processes, device), else None: a damaged or
        foreign file is reported (by the main process) and training starts over."""
        saved, problem = _payload(self.path, self.config)
        if problem is None and saved is not None and saved.get("run") != run:
            problem = f"{self.path} was written by another run ({saved.get('run')}, not {run})"
        if problem is None:
            return saved
        if parallel.rank()[0] == 0:
            warnings.warn(f"{problem}; training starts over from step 0")
        return None


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The full configuration of one model, which is also its cache key: the network (a subclass's fields), the
    diffusion schedule, the optimisation, the seed, and `extra` keys for whatever else determines the model."""

    KEYS: ClassVar[tuple[str, ...]] = ()  # a subclass's fields in the order of its dict (extra keys follow)

    name: str = field(kw_only=False)
    T: int
    schedule: str
    steps: int
    batch: int
    lr: float
    seed: int
    warmup: float = 0.05  # share of the steps with a linear warmup (see fit)
    # further keys of the dict: e.g. the training data's n_train or seed; recursive training's lineage, generation
    # and noise; decay (see fit)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        clash = sorted(set(self.extra) & set(self.KEYS))
        if clash:
            params.fail("extra", f"keys other than the fields of {type(self).__name__}", clash)

    def to_dict(self) -> dict:
        """The configuration as a plain dict (a copy): the cache key's text and the payload's "config"."""
        return deepcopy({**{k: getattr(self, k) for k in self.KEYS}, **self.extra})

    @classmethod
    def from_dict(cls, config: dict) -> "ModelConfig":
        """The configuration of a dict made by to_dict (e.g. a payload's "config")."""
        extra = {k: v for k, v in config.items() if k not in cls.KEYS}
        return cls(**{k: config[k] for k in cls.KEYS}, extra=extra)

    def build(self) -> torch.nn.Module:
        """An untrained network of the configuration's shape."""
        raise NotImplementedError

    def training_data(self, data: dict | None) -> torch.Tensor:
        """The training set (one sample per row): data[name] if given (name -> training set)."""
        raise NotImplementedError


def train_eps(model: torch.nn.Module, data: torch.Tensor, schedule, config: ModelConfig, device: str = "cpu",
              progress: bool = True, callback: Callable | None = None,
              checkpoint: str | os.PathLike | None = None) -> dict:
    """Train a denoiser to predict eps on `data` (one sample per row); return its state and loss history.

    Reads from config: seed, T, batch, steps, lr, warmup; low_t_share and low_t_max (see diffusion.sample_t),
    bf16 and ema where it has them; the extra key decay (see fit). callback: as for fit. checkpoint: a file the
    run resumes from and keeps its state in (see Checkpoint).
    """
    data = data.to(device)
    g = generator(config.seed + 1, device)

    def draw(gen):
        return data[torch.randint(0, len(data), (config.batch,), generator=gen, device=gen.device)]

    def loss(net, x0, gen):
        low_t = getattr(config, "low_t_share", 0.0), getattr(config, "low_t_max", 50)
        t = sample_t(len(x0), config.T, gen, *low_t)
        return eps_loss(net, schedule, x0, t, gen)

    history = fit(model, draw, loss, config.steps, config.lr, g, config.warmup, progress=progress,
                  bf16=getattr(config, "bf16", False), ema=getattr(config, "ema", None),
                  decay=config.extra.get("decay", "cosine"), callback=callback,
                  checkpoint=None if checkpoint is None else Checkpoint(Path(checkpoint), config.to_dict()))
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    return {"state": state, "loss": history[:: max(1, len(history) // 500)]}


def train_model(config: ModelConfig, data: dict | None = None, progress: bool = True, device: str = "cpu",
                callback: Callable | None = None, cache_dir: str | os.PathLike | None = None) -> dict:
    """Train the configuration's network (on `device`) on its training set, config.training_data(data); return
    its state and loss history. callback: as for fit (e.g. to keep checkpoints). cache_dir: resume from the run's
    checkpoint there (checkpoint_path) and keep one; the caller removes it once it has stored the result."""
    x = config.training_data(data)
    schedule = make_schedule(config.schedule, config.T)
    torch.manual_seed(config.seed)
    checkpoint = None if cache_dir is None else checkpoint_path(config, cache_dir)
    return train_eps(config.build().to(device), x, schedule, config, device, progress, callback, checkpoint)


def config_key(config: ModelConfig) -> str:
    """A stable 16-hex-digit key for a configuration (a hash of its dict as JSON)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config.to_dict()}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(config: ModelConfig, cache_dir: str | os.PathLike) -> Path:
    """Where the model trained from `config` is stored."""
    return Path(cache_dir) / f"{config.name}-{config_key(config)}.pt"


def checkpoint_path(config: ModelConfig, cache_dir: str | os.PathLike) -> Path:
    """Where a run training `config` for the cache in `cache_dir` keeps its checkpoint (see Checkpoint)."""
    return Path(cache_dir) / "checkpoints" / f"{config.name}-{config_key(config)}.ckpt"


def save(payload: dict, path: str | os.PathLike) -> None:
    """Write a payload atomically, with a digest header that makes corruption detectable."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    header = MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n"
    with atomic(path) as tmp:
        tmp.write_bytes(header + data)


def load(path: str | os.PathLike) -> dict:
    """Read a payload written by `save` (its tensors on the CPU); ValueError if it is truncated or corrupt."""
    raw = Path(path).read_bytes()
    header, _, data = raw.partition(b"\n")
    if not header.startswith(MAGIC) or hashlib.sha256(data).hexdigest().encode() != header[len(MAGIC):]:
        raise ValueError(f"{path} is truncated or corrupt (digest mismatch)")
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def cache_mode() -> str:
    """$MODEINTERP_CACHE: 'readonly' (a missing or damaged model is an error, never a training run) or
    'readwrite' (the default, also when it is unset or empty); any other value is an error."""
    value = os.environ.get(CACHE_ENV) or "readwrite"
    if value not in CACHE_MODES:
        raise ValueError(f"{CACHE_ENV} must be 'readonly' or 'readwrite' (unset or empty: readwrite); got {value!r}")
    return value


def _lookup(config: ModelConfig, cache_dir, readonly: bool = False) -> dict | None:
    """The cached payload of `config`, or None (a corrupt or mismatched file is reported, never used; read-only,
    it is an error that says how to remake that one model)."""
    path = cache_path(config, cache_dir).resolve()
    payload, problem = _payload(path, config.to_dict())
    if problem is None:
        return payload
    if readonly:
        raise RuntimeError(f"{CACHE_ENV}=readonly and {problem}. Restore the shipped file (`git checkout -- {path}`) "
                           f"or delete it and rerun what needs it without {CACHE_ENV}=readonly: only that model "
                           "is trained again")
    warnings.warn(f"{problem}; retraining")
    return None


def _payload(path: Path, config: dict) -> tuple[dict | None, str | None]:
    """(the payload at `path`, None) if it holds `config`; (None, None) if there is no file; else (None, what is
    wrong with it)."""
    if not path.exists():
        return None, None
    try:
        payload = load(path)
        return (payload, None) if payload.get("config") == config else (None, f"{path} holds another configuration")
    except ValueError as e:  # load's: the file is truncated or corrupt (it names the file)
        return None, str(e)
    except Exception as e:
        return None, f"{path} is unreadable ({e})"


def _store(payload: dict, config: ModelConfig, cache_dir) -> None:
    """Store a trained model in the cache, then remove the checkpoint of its training (see Checkpoint)."""
    save(payload, cache_path(config, cache_dir))
    drop_checkpoint(config, cache_dir)


def drop_checkpoint(config: ModelConfig, cache_dir) -> None:
    """Remove the checkpoint of a run training `config` (its result is stored), and any temporary file of it that a
    killed run left."""
    path = checkpoint_path(config, cache_dir)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):  # support.files.atomic's names
        tmp.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _train_and_store(train: Callable, config: ModelConfig, cache_dir, threads: int = 1) -> dict | None:
    """Train one configuration (in a worker process of a pool, or in each of the processes of parallel.run) and
    store it atomically (its checkpoint then removed), from the main process only; return the payload (None under
    parallel.run)."""
    from ..support.runtime import setup
    setup(config.seed, threads)
    payload = {"config": config.to_dict(), **train(config)}
    if parallel.rank()[0] == 0:
        _store(payload, config, cache_dir)
    return None if parallel.active() else payload


def cached_many(configs: list[ModelConfig], train: Callable[[ModelConfig], dict], cache_dir, workers: int = 1,
                processes: int = 1, device: str = "cpu") -> list[dict]:
    """The payloads trained from `configs`: from the cache, else trained (in `workers` processes) and stored.

    With workers > 1 each missing model trains in its own single-thread process (2 on a 2-core machine is
    fastest); `train` must then be importable (a library function, or a functools.partial of one).
    With processes > 1 each missing model trains data-parallel in `processes` processes on `device` (one GPU
    each on CUDA; see parallel and fit), one model after another; `train` must be importable too.
    An interrupt or SIGTERM stops the training at once: queued models are not trained, running ones are stopped
    and not stored (see parallel.workers); the models stored before stay, and a `train` that keeps checkpoints
    in cache_dir (train_model with cache_dir, as `models` passes it) resumes from them on the next call: each is
    removed once its model is stored.
    """
    processes = parallel.check(processes, device)
    if processes > 1 and workers > 1:
        raise ValueError(f"parameter 'workers' must be 1 when processes > 1 (got workers={workers}, "
                         f"processes={processes}): each model then trains on every process")
    readonly = cache_mode() == "readonly"
    payloads = [_lookup(c, cache_dir, readonly) for c in configs]
    missing = [i for i, p in enumerate(payloads) if p is None]
    if missing and readonly:
        names = ", ".join(cache_path(configs[i], cache_dir).name for i in missing)
        raise RuntimeError(f"{CACHE_ENV}=readonly and no trained model in {Path(cache_dir).resolve()} for: {names}. "
                           "The shipped models do not match the notebook's defaults: remake them with `make models` "
                           f"(other parameters: run without {CACHE_ENV}=readonly to train them)")
    with parallel.stopping():
        if processes > 1:
            for i in missing:
                parallel.run(_train_and_store, (train, configs[i], cache_dir), processes, device)
                payloads[i] = load(cache_path(configs[i], cache_dir))
        elif workers <= 1 or len(missing) <= 1:
            for i in missing:
                payloads[i] = {"config": configs[i].to_dict(), **train(configs[i])}
                _store(payloads[i], configs[i], cache_dir)
        else:
            with parallel.workers(min(workers, len(missing))) as submit:
                futures = {submit(_train_and_store, train, configs[i], cache_dir): i for i in missing}
                for f in tqdm(as_completed(futures), total=len(futures), desc=f"training ({workers} processes)",
                              disable=not show_progress()):
                    payloads[futures[f]] = f.result()
    return payloads


def models(configs: list[ModelConfig], cache_dir, workers: int = 1, device: str = "cpu",
           data: dict | None = None, processes: int = 1) -> list[tuple[torch.nn.Module, dict]]:
    """The models of `configs` (on `device`, in eval mode) with their payloads: cached, else trained by
    train_model (on data[name] where `data` is given) in `workers` processes, or each data-parallel in `processes`
    processes (one GPU each on CUDA; see cached_many). `data` may omit configurations that are in the cache.
    An interrupted training resumes from its checkpoint in cache_dir (see Checkpoint)."""
    fit_one = partial(train_model, data=data, progress=workers <= 1, device=str(device), cache_dir=cache_dir)
    payloads = cached_many(configs, fit_one, cache_dir, workers, processes, str(device))
    out = []
    for config, payload in zip(configs, payloads):
        model = config.build()
        model.load_state_dict(payload["state"])
        out.append((model.to(device).eval(), payload))
    return out
