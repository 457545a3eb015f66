"""Speed and memory of training, sampling and the metric on this machine, printed side by side.

    make benchmark        # or: python ci/benchmark.py      (15-25 minutes on 2 cores; not part of the tests)
    python ci/benchmark.py processes   # only training throughput in 1 and 2 CPU processes (data-parallel)
    python ci/benchmark.py compile     # only the image U-Nets plain, channels-last and compiled
    python ci/benchmark.py paths       # only notebook 03's sampling: fp32 plain, channels-last, bf16 autocast
    python ci/benchmark.py noise       # only the noise's cost against one plain torch.randn

Every ratio is measured in this run, on one thread per process (the library's default; see README).
Minutes per notebook come from figures/timings.json, written by the last `make models` (cold cache: every
model trained) and `make reproduce` (warm cache: the shipped models) on this kind of machine.
"""
import ast
import contextlib
import copy
import io
import multiprocessing
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import papermill as pm
import torch
from torch.utils.flop_counter import FlopCounterMode

from modeinterp import setup
from modeinterp.experiments import images, pixels, shapes
from modeinterp.method import detection, diffusion, metric, nets, samplers, train, windows
from modeinterp.support import parallel
from modeinterp.support.files import atomic
from modeinterp.method.nets import ToyMLP, UNet, for_sampling, sinusoidal_embedding
from modeinterp.method.noise import Streams, run_seed
from modeinterp.support.runtime import generator
from run_notebooks import recorded_timings  # ci/, beside this file

ROOT = Path(__file__).resolve().parent.parent


class Tee(io.TextIOBase):
    """Write to several text streams at once."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, s):
        for stream in self.streams:
            stream.write(s)
        return len(s)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def peak_gflops(n: int = 4096, repeats: int = 3) -> float:
    """This machine's fp32 matmul rate on one thread (best of `repeats` n x n x n products)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flops(fn) -> int:
    """Matmul, convolution and attention FLOPs of one call of fn (torch's FlopCounterMode)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def training_rate(model, batch_fn, steps: int, bf16: bool = False, chunk: int = 2048,
                  count: bool = True) -> tuple[float, float]:
    """(seconds per step, GFLOP/s) of train.fit on `model` with eps-prediction, after one warm-up step (FLOPs not
    counted, nan, with count=False: e.g. a compiled model)."""
    schedule = diffusion.linear_schedule(model.temb.shape[0])

    def loss(m, x0, g):
        return diffusion.eps_loss(m, schedule, x0, diffusion.sample_t(len(x0), schedule.T, g), g)

    def one_step():
        train.fit(model, batch_fn, loss, 1, 1e-3, generator(0), chunk=chunk, progress=False, bf16=bf16)

    one_step()
    work = flops(one_step) if count else float("nan")
    per_step = min(_seconds(lambda: train.fit(model, batch_fn, loss, steps, 1e-3, generator(0), chunk=chunk,
                                              progress=False, bf16=bf16)) for _ in range(2)) / steps
    return per_step, work / per_step / 1e9


def _toy_training_seconds(steps: int, batch: int) -> float:
    """Seconds per step of train.fit on the toy MLP with a global batch of `batch` rows, after one warm-up step:
    in this process, or in each of parallel.run's (each then trains on its slice of the batch)."""
    setup(0, 1)
    mlp, data = ToyMLP(2, 1000, width=128), torch.randn(100_000, 2, generator=generator(0))
    schedule = diffusion.linear_schedule(1000)

    def fit(n):
        train.fit(mlp, partial(_rows_of, data, batch), partial(_eps_loss, schedule), n, 1e-3, generator(0),
                  progress=False)

    fit(1)
    return _seconds(lambda: fit(steps)) / steps


def _rows_of(data, batch, g):
    return data[torch.randint(0, len(data), (batch,), generator=g)]


def _eps_loss(schedule, m, x0, g):
    return diffusion.eps_loss(m, schedule, x0, diffusion.sample_t(len(x0), schedule.T, g), g)


def training_processes(steps: int = 10, batch: int = 10_000) -> None:
    """Print training throughput of the toy MLP in 1 and 2 CPU processes (accelerate, gloo) side by side."""
    one = in_fresh_process(_toy_training_seconds, steps, batch)
    two = max(parallel.run(_toy_training_seconds, (steps, batch), 2, "cpu"))  # the slower process sets the pace
    print(f"training throughput, toy MLP (width 128, global batch {batch:,}), data-parallel CPU processes "
          f"(one thread each):\n  1 process: {batch / one:8,.0f} samples/s\n  2 processes: {batch / two:6,.0f} "
          f"samples/s = {one / two:.2f}x one process")


class PlainMLP(torch.nn.Module):
    """The same ToyMLP weights, computed the plain way: the time embedding recomputed for every sample."""

    def __init__(self, mlp: ToyMLP):
        super().__init__()
        self.mlp = mlp

    def forward(self, x, t):
        temb = sinusoidal_embedding(torch.full((len(x),), int(t)), self.mlp.temb.shape[1])
        h = self.mlp.inp(x)
        for block in self.mlp.blocks:
            h = block(h, block.time(temb))
        return self.mlp.out(h)


def store_everything(model, schedule, n: int, shape, g, window) -> torch.Tensor:
    """The released code's approach: keep x0_hat of every step of every sample, then take the variance (with the
    library's per-sample noise, so that it computes what the streaming sampler computes)."""
    noise = Streams(run_seed(g), 0, n, shape, schedule.T)
    x, ab, kept = noise.randn(), schedule.alpha_bar.tolist(), []
    with torch.no_grad():
        for t in range(schedule.T - 1, -1, -1):
            eps = model(x, t)
            x0_hat = diffusion.predict_x0(x, eps, ab[t])
            kept.append(x0_hat.clone())
            prev = ab[t - 1] if t else 1.0
            mean, _ = diffusion.posterior(x, x0_hat, ab[t], prev)
            x = mean + (1 - ab[t] / prev) ** 0.5 * noise.randn() if t else mean
    stored = torch.stack(kept)  # steps x N x ...
    lo, hi = window
    return metric.trajectory_variance(stored[schedule.T - 1 - hi: schedule.T - lo]), stored.nbytes


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_case(kind: str, images: bool) -> dict:
    """Run one sampler variant in this (fresh) process: seconds, peak-RSS growth and the metric's own bytes."""
    setup(0, 1)
    if images:
        model, shape, n, T = UNet(T=1000).eval(), (1, 64, 64), 16, 1000
    else:
        model, shape, n, T = ToyMLP(2, 1000, width=128).eval(), (2,), 10_000, 1000
    schedule, window = diffusion.linear_schedule(T), (0, 9)
    with torch.no_grad():
        model(torch.randn((8, *shape)), 0)
    before = _peak_rss_mb()
    start = time.perf_counter()
    if kind == "stream":
        run = samplers.ddpm(model, schedule, n, shape, generator(0), windows=[window], progress=False)
        n_chunk = min(n, 2048)
        metric_bytes = 2 * n_chunk * torch.Size(shape).numel() * 8 + run.variance[window].nbytes  # mean, M2
    else:
        _, metric_bytes = store_everything(model, schedule, n, shape, generator(0), window)
    return {"seconds": time.perf_counter() - start, "rss_mb": _peak_rss_mb() - before, "metric_mb": metric_bytes / 1e6}


def in_fresh_process(fn, *args):
    """Call fn(*args) in a new process (so its peak memory is its own)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def sampler_speed(width: int = 128, n: int = 10_000, T: int = 1000) -> dict:
    """The sampler (chunks of 2,048 rows, time branch once per step) against the plain implementation (best of 2)."""
    setup(0, 1)
    mlp = ToyMLP(2, T, width=width).eval()
    schedule = diffusion.linear_schedule(T)
    per_call = flops(lambda: mlp(torch.randn(2048, 2), 0)) / 2048  # FLOPs per sample and step
    ours = min(_seconds(lambda: samplers.ddpm(mlp, schedule, n, (2,), generator(0), windows=[(0, 9)],
                                              progress=False)) for _ in range(2))
    plain = min(_seconds(lambda: samplers.ddpm(PlainMLP(mlp), schedule, n, (2,), generator(0), windows=[(0, 9)],
                                               chunk=n, progress=False)) for _ in range(2))
    return {"ours_s": ours, "plain_s": plain, "ours_gflops": per_call * n * T / ours / 1e9}


NOISE_CASES = (("1D", 20_000, (1,)), ("2D", 20_000, (2,)), ("32x32 images", 100, (1, 32, 32)),
               ("1D, the samplers' chunk", 2_048, (1,)), ("2D, the samplers' chunk", 2_048, (2,)))


def our_noise(rows: int, shape, n_draws: int):
    """The draws a sampler reads for `rows` samples (rows x shape each, n_draws of them), one at a time."""
    streams = Streams(run_seed(generator(0)), 0, rows, shape, n_draws)
    for _ in range(n_draws):
        yield streams.randn()


def plain_noise(rows: int, shape, n_draws: int) -> torch.Tensor:
    """The same numbers' worth of noise from one plain torch.randn: n_draws x rows x shape."""
    return torch.randn((n_draws, rows, *shape), generator=generator(0))


def noise_cost(cases=NOISE_CASES, n_draws: int = 200, repeats: int = 5) -> dict:
    """Nanoseconds per sample and step of the noise, ours and one plain torch.randn of the same numbers
    (best of `repeats`, the two timed in turn), for each (name, rows, shape) of `cases`."""
    setup(0, 1)
    out = {}
    for name, rows, shape in cases:
        ours, plain = [], []
        for _ in range(repeats):
            ours.append(_seconds(lambda: [None for _ in our_noise(rows, shape, n_draws)]))
            plain.append(_seconds(lambda: plain_noise(rows, shape, n_draws)))
        out[name] = dict(rows=rows, ours_ns=min(ours) / (rows * n_draws) * 1e9,
                         plain_ns=min(plain) / (rows * n_draws) * 1e9)
    return out


def _print_noise(cost: dict, n_draws: int = 200) -> None:
    print(f"noise, ns per sample and step ({n_draws} draws, one thread): ours (modeinterp.method.noise) "
          f"against one plain torch.randn of the same numbers")
    for name, c in cost.items():
        label = f"{name}, {c['rows']:,} rows:"
        print(f"  {label:<36} ours {c['ours_ns']:8.1f}   torch.randn {c['plain_ns']:8.1f}   "
              f"= {c['ours_ns'] / c['plain_ns']:.2f}x")


class Autocast(torch.nn.Module):
    """model(x_t, t) computed under bfloat16 autocast, returned in float32."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t):
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.model(x, t).float()


def notebook_defaults(stem: str) -> dict:
    """A notebook's default parameters, read from its parameters cell."""
    inspected = pm.inspect_notebook(str(ROOT / "notebooks" / f"{stem}.ipynb"))
    return {name: ast.literal_eval(p["default"]) for name, p in inspected.items()}


def shapes_model() -> tuple[dict, images.ImageConfig, torch.nn.Module]:
    """Notebook 03's default parameters, its model's configuration and the shipped model."""
    p = notebook_defaults("03_simple_shapes")
    decay = {"decay": p["lr_decay"]} if p["lr_decay"] != "cosine" else {}  # as the notebook builds it
    config = images.ImageConfig("shapes", p["size"], T=p["T"], steps=p["train_steps"], batch=p["batch"],
                                lr=p["lr"], seed=p["seed"], warmup=(p["warmup_steps"] + 0.5) / p["train_steps"],
                                arch=dict(fold=p["fold"], base=p["base"], mults=p["mults"]), ema=p["ema"],
                                extra=dict(n_train=p["n_train"], **decay))
    (model, _), = train.models([config], ROOT / "models")
    return p, config, model


def unet_chunks(sizes=(8, 16, 32, 64, 128), n: int = 256) -> dict:
    """Milliseconds per image of notebook 03's U-Net at each chunk size (images at once, best of 3), plain and in
    channels-last memory (the samplers' path, nets.for_sampling); the chunk is the notebooks' choice."""
    setup(0, 1)
    p, _, model = shapes_model()
    x = torch.randn(n, 1, p["size"], p["size"])
    out = {}
    with torch.no_grad():
        for name, net in (("plain", model), ("channels-last", for_sampling(model))):
            net(x[:sizes[0]], 0)
            out[name] = {c: min(_seconds(lambda: [net(x[i:i + c], 500) for i in range(0, n, c)])
                                for _ in range(3)) / n * 1e3 for c in sizes}
    return out


def image_unets() -> dict:
    """Notebook 03's and 04's U-Nets at their defaults (03's shipped model, 04's network untrained: speed does not
    depend on the weights): {name: (model, image side, chunk, training batch)}."""
    setup(0, 1)
    p03, _, shapes_net = shapes_model()
    p = notebook_defaults("04_hands")
    hands_net = UNet(1, p["size"], p["T"], fold=p["fold"], base=p["base"], mults=tuple(p["mults"]), stem=p["stem"])
    with torch.no_grad():  # away from the zero-initialised output layer, so that output differences mean something
        for w in hands_net.parameters():
            w.add_(0.05 * torch.randn(w.shape, generator=generator(1)))
    return {f"notebook 03 ({p03['size']}x{p03['size']}, fold {p03['fold']}, base {p03['base']})":
            (shapes_net.eval(), p03["size"], p03["chunk"], p03["batch"]),
            f"notebook 04 ({p['size']}x{p['size']}, fold {p['fold']}, base {p['base']})":
            (hands_net.eval(), p["size"], p["chunk"], p["batch"])}


def _per_row(f):
    """f(x, t) with the step as a tensor of one step per row: one compiled graph then serves every step."""
    return lambda a, t: f(a, torch.full((len(a),), t))


def unet_sampling(n: int = 256, reps: int = 2) -> dict:
    """Per image U-Net (image_unets): its GFLOP per image and step, and the milliseconds per image and step of
    the forward pass (the sampler's cost) with the largest output difference from the plain model's, as the
    notebooks ran it before (plain memory, 64 at once), plain at the notebooks' chunk, in channels-last memory
    (the notebooks' path now, nets.for_sampling) and compiled (torch.compile of that, inductor), with the
    seconds compiling took."""
    return {name: {**_sampling_variants(model, size, chunk, n, reps), "shares": op_shares(model, size, chunk)}
            for name, (model, size, chunk, _) in image_unets().items()}


def op_shares(model, size: int, chunk: int, top: int = 4) -> dict:
    """What bounds the samplers' U-Net: the share of its forward time (channels-last, chunk images at once) spent
    in each of the `top` costliest operators (torch.profiler, self time), the rest summed."""
    from torch.profiler import ProfilerActivity, profile

    f, x = for_sampling(model), torch.randn(chunk, 1, size, size, generator=generator(0))
    with torch.no_grad():
        f(x, 500)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                f(x, 500)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key.removeprefix("aten::"): e.self_cpu_time_total / total for e in events[:top]}
    return {**shares, "the rest": 1 - sum(shares.values())}


def _sampling_variants(model, size: int, chunk: int, n: int, reps: int) -> dict:
    x = torch.randn(n, 1, size, size, generator=generator(0))
    variants = {"plain, 64 at once (before)": (model, 64), f"plain, {chunk} at once": (model, chunk),
                f"channels-last, {chunk} at once (notebooks)": (for_sampling(model), chunk)}
    row = {"gflop": flops(lambda: model(x[:1], 500)) / 1e9}
    with torch.no_grad():
        reference = model(x[:chunk], 500)
        try:
            start = time.perf_counter()
            compiled = _per_row(torch.compile(for_sampling(model), dynamic=False))
            compiled(x[:chunk], 500)
            row["compile_s"] = time.perf_counter() - start
            variants[f"compiled channels-last, {chunk} at once"] = (compiled, chunk)
        except Exception as e:  # no C++ compiler, or an unsupported platform: say so, time the rest
            row["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        for label, (f, c) in variants.items():
            f(x[:c], 499)
            seconds = min(_seconds(lambda: [f(x[i:i + c], 500) for i in range(0, n, c)]) for _ in range(reps))
            row[label] = (seconds / n * 1e3, float((f(x[:chunk], 500) - reference).abs().max()))
    return row


def unet_training(steps: int = 3) -> dict:
    """Per image U-Net of image_unets: seconds per training step at the notebooks' batch under their bf16
    autocast, and GFLOP/s, plain (how the shipped models were trained), in channels-last memory, and compiled."""
    out = {}
    for name, (model, size, _, batch) in image_unets().items():
        images = torch.randn(256, 1, size, size, generator=generator(0))
        row = {}
        for label in ("plain", "channels-last", "compiled"):
            net, data = copy.deepcopy(model), images
            if label == "channels-last":
                net, data = net.to(memory_format=torch.channels_last), images.contiguous(memory_format=torch.channels_last)
            try:
                start = time.perf_counter()
                net = torch.compile(net) if label == "compiled" else net
                draw = partial(_rows_of, data, batch)
                rate = training_rate(net, draw, steps, bf16=True, chunk=batch, count=label != "compiled")
                row[label] = rate
                if label == "compiled":
                    row["compile_s"] = time.perf_counter() - start - 2 * steps * rate[0]
            except Exception as e:
                row[f"{label}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        plain_step, plain_rate = row["plain"]
        work = plain_rate * plain_step  # GFLOP per step, counted on the plain model
        out[name] = {k: (v[0], work / v[0]) if isinstance(v, tuple) else v for k, v in row.items()}
    return out


def sampling_paths(n: int = 200) -> dict:
    """Notebook 03's shipped U-Net and sampler from the same noise, in fp32 plain (the notebooks' path before), fp32
    channels-last (the notebooks' path now) and under bf16 autocast: per path the seconds, and against the plain
    path how many samples the shape counter reads differently, the hallucinated count, and the metric in the
    paper's window and over the last 10 steps (median change per sample, AUROC)."""
    setup(0, 1)
    p, config, model = shapes_model()
    schedule = diffusion.make_schedule(config.schedule, p["T"])
    paper = windows.windows_from_fractions([p["paper_window"]], p["T"])[0]
    last = windows.last_visited(p["T"], p["sampling_steps"], 10)
    out = {}
    for name, m in (("fp32, plain", model), ("fp32, channels-last", nets.for_sampling(model)),
                    ("bf16 autocast", Autocast(model))):
        start = time.perf_counter()
        run = samplers.ddpm(m, schedule, n, (1, p["size"], p["size"]), generator(p["seed"]), windows=[paper, last],
                            n_steps=p["sampling_steps"], noise="posterior", clip=1.0, chunk=p["chunk"],
                            progress=False)
        counts, labels = shapes.count_shapes(pixels.to_unit(run.x0[:, 0].numpy()))
        out[name] = dict(seconds=time.perf_counter() - start, counts=counts, hallucinated=labels == "hallucinated",
                         kept=labels != "invalid", variance={w: run.variance[w].numpy() for w in (paper, last)})
    plain = out["fp32, plain"]
    for o in out.values():
        o["counts_differ"] = int((o["counts"] != plain["counts"]).any(1).sum())
        o["change"] = {w: float(np.median(np.abs(o["variance"][w] / plain["variance"][w] - 1))) for w in (paper, last)}
        o["auroc"] = {w: detection.auroc(o["variance"][w][o["kept"]], o["hallucinated"][o["kept"]])
                      for w in (paper, last)}
    return {"n": n, "paper": paper, "last": last, "paths": out}


def main() -> None:
    setup(0, 1)
    print("one thread per process; fp32 unless stated\n")
    peak = peak_gflops()
    print(f"fp32 matmul peak (4096^3, one thread): {peak:.1f} GFLOP/s\n")

    mlp = ToyMLP(2, 1000, width=128)
    data = torch.randn(100_000, 2)
    mlp_step, mlp_rate = training_rate(mlp, lambda g: data[torch.randint(0, len(data), (10_000,), generator=g)], 10)
    print(f"training, toy MLP (width 128, batch 10,000 in chunks of 2,048): {mlp_step * 1e3:.0f} ms/step, "
          f"{mlp_rate:.1f} GFLOP/s = {mlp_rate / peak:.0%} of peak")
    training_processes()

    print("\nsampler and metric, N=10,000 2D samples, T=1,000, window of the last 10 steps:")
    cases = {kind: in_fresh_process(memory_case, kind, False) for kind in ("stream", "store")}
    _memory_table(cases)
    print("\nthe same for 64x64 images (untrained U-Net), N=16, T=1,000:")
    _memory_table({kind: in_fresh_process(memory_case, kind, True) for kind in ("stream", "store")})

    s = in_fresh_process(sampler_speed)
    print(f"\nsampler against a plain implementation of the same MLP (time embedding per sample, no chunks), "
          f"N=10,000, T=1,000:\n  ours {s['ours_s']:.1f} s, plain {s['plain_s']:.1f} s: {s['plain_s'] / s['ours_s']:.1f}x "
          f"faster; ours runs at {s['ours_gflops']:.1f} GFLOP/s = {s['ours_gflops'] / peak:.0%} of peak")
    chunks = in_fresh_process(unet_chunks)
    print("\nnotebook 03's U-Net, ms per image by chunk (images at once):")
    for name, row in chunks.items():
        print(f"  {name:>14}: " + ", ".join(f"{c}: {ms:.2f}" for c, ms in row.items()))
    _print_sampling(in_fresh_process(unet_sampling), peak)
    _print_training(in_fresh_process(unet_training), peak)
    print("  (convolution FLOPs are counted as direct 3x3 convolutions; oneDNN's faster algorithms for small\n"
          "   images do fewer multiplications, so the effective rate can exceed the matmul peak)")
    _print_paths(in_fresh_process(sampling_paths))
    print()
    _print_noise(noise_cost())
    _notebook_minutes()


def _print_sampling(rows: dict, peak: float) -> None:
    """unet_sampling's result: per U-Net a line per path."""
    for name, row in rows.items():
        print(f"\n{name}'s U-Net sampling, {row['gflop']:.3f} GFLOP per image and step, one thread:")
        for label, (ms, diff) in ((k, v) for k, v in row.items() if isinstance(v, tuple)):
            rate = row["gflop"] / ms * 1e3
            print(f"  {label:<42} {ms:5.2f} ms = {rate:5.1f} GFLOP/s = {rate / peak:4.0%} of the fp32 peak "
                  f"(output differs by {diff:.1e})")
        print(f"  torch.compile took {row['compile_s']:.0f} s per process and shape" if "compile_s" in row
              else f"  torch.compile: {row['compile_error']}")
        print("  where the channels-last forward spends its time: "
              + ", ".join(f"{op} {share:.0%}" for op, share in row["shares"].items()))


def _print_training(rows: dict, peak: float) -> None:
    """unet_training's result: per U-Net a line per path."""
    for name, row in rows.items():
        print(f"\n{name}'s U-Net training (its batch, bf16 autocast as the notebooks train), one thread:")
        for label in ("plain", "channels-last", "compiled"):
            if label in row:
                step, rate = row[label]
                note = " (the path the shipped models were trained with)" if label == "plain" else ""
                print(f"  {label:<14} {step:5.2f} s/step = {rate:5.1f} GFLOP/s = {rate / peak:4.0%} of the fp32 peak{note}")
            else:
                print(f"  {label:<14} {row.get(label + '_error')}")
        if "compile_s" in row:
            print(f"  torch.compile took about {row['compile_s']:.0f} s")


def _print_paths(r: dict) -> None:
    """sampling_paths' result: a line per path."""
    print(f"\nsampling notebook 03's U-Net ({r['n']} images, its sampler, chunk and seed) along each path from the same "
          f"noise, against plain fp32:")
    for name, o in r["paths"].items():
        print(f"  {name:<20} {o['seconds']:6.1f} s; {o['counts_differ']:3d} of {r['n']} counted differently, "
              f"{o['hallucinated'].sum()} hallucinated; paper's window: median change {o['change'][r['paper']]:.1e}, "
              f"AUROC {o['auroc'][r['paper']]:.3f}; last 10 steps: {o['change'][r['last']]:.1e}, "
              f"AUROC {o['auroc'][r['last']]:.3f}")


def _memory_table(cases: dict) -> None:
    st, so = cases["stream"], cases["store"]
    print(f"  streaming (ours):     {st['seconds']:6.1f} s, metric holds {st['metric_mb']:9.2f} MB, "
          f"peak RSS +{st['rss_mb']:.0f} MB")
    print(f"  store every x0_hat:   {so['seconds']:6.1f} s, metric holds {so['metric_mb']:9.2f} MB, "
          f"peak RSS +{so['rss_mb']:.0f} MB")
    print(f"  metric memory {so['metric_mb'] / st['metric_mb']:.0f}x smaller streaming; time ratio "
          f"{so['seconds'] / st['seconds']:.2f}")


def _notebook_minutes() -> None:
    print("\nminutes and peak memory (MB, the kernel and its processes) per notebook at its defaults, 2 cores;\n"
          "recorded by `make models` = cold (every model trained) and `make reproduce` = warm (the shipped models):")
    timings = recorded_timings()
    table, runs = timings["notebooks"], timings["runs"]
    if not table:
        print("  no figures/timings.json yet: run `make models` and `make reproduce`")
        return
    nan = float("nan")
    for stem, t in sorted(table.items()):
        print(f"  {stem:<24} cold {t.get('cold', nan):5.1f} min {t.get('cold_peak_mb', nan):6.0f} MB   "
              f"warm {t.get('warm', nan):5.1f} min {t.get('warm_peak_mb', nan):6.0f} MB")
        for part, minutes in t.get("warm_parts", {}).items():
            print(f"    of it, the {part:<17}                        warm {minutes:5.1f} min")
    total = {k: sum(t[k] for t in table.values() if k in t) for k in ("cold", "warm")}
    missing = {k: [stem for stem, t in table.items() if k not in t] for k in ("cold", "warm")}
    print(f"  {'sum of the notebooks':<24} cold {total['cold']:5.1f} min            warm {total['warm']:5.1f} min"
          + "".join(f"   ({kind}: no record of {', '.join(stems)})" for kind, stems in missing.items() if stems))
    for kind in ("cold", "warm"):
        if kind in runs:
            r = runs[kind]
            print(f"  the whole {kind} run, wall-clock: {r['minutes']:.1f} min with {r['jobs']} notebook(s) at once")


if __name__ == "__main__":
    if sys.argv[1:] == ["processes"]:  # only the 1-vs-2-process training throughput; nothing written
        training_processes()
        sys.exit()
    if sys.argv[1:] == ["compile"]:  # only the image U-Nets plain, channels-last and compiled; nothing written
        _print_sampling(unet_sampling(), peak_gflops())
        _print_training(unet_training(), peak_gflops())
        sys.exit()
    if sys.argv[1:] == ["noise"]:  # only the noise against one plain torch.randn; nothing written
        _print_noise(noise_cost())
        sys.exit()
    if sys.argv[1:] == ["paths"]:  # only notebook 03's sampling along each path (plain, channels-last, bf16)
        _print_paths(sampling_paths())
        sys.exit()
    start = time.perf_counter()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, buffer)):
        main()
        print(f"\nbenchmark ran in {(time.perf_counter() - start) / 60:.1f} min")
    with atomic(ROOT / "figures" / "benchmark.txt") as tmp:
        tmp.write_text(buffer.getvalue())
    print("written to figures/benchmark.txt (the README links it)")
