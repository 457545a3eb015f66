"""Reproducibility: one call fixes every seed and the number of CPU threads."""
import os
import random

import numpy as np
import torch


THREADS_ENV = "MODEINTERP_THREADS"
PROGRESS_ENV = "MODEINTERP_PROGRESS"


def show_progress(requested: bool = True) -> bool:
    """Whether to draw a progress bar: as requested, unless $MODEINTERP_PROGRESS=0 (set by the test command)."""
    return requested and os.environ.get(PROGRESS_ENV, "1") != "0"


def default_threads() -> int:
    """Threads per process: $MODEINTERP_THREADS, else 1 (fastest on small, busy machines; see the README)."""
    value = os.environ.get(THREADS_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer; got {value!r}")
    return int(value)


def setup(seed: int = 0, threads: int | None = None) -> torch.Generator:
    """Seed python, numpy and torch, fix the thread count; return a torch.Generator seeded with `seed`."""
    threads = default_threads() if threads is None else threads
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable once per process, before any parallel work
        pass
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return generator(seed)


def active() -> bool:
    """Whether this process is one of several started by modeinterp.support.parallel.run (torch.distributed is initialised)."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed` ('cuda' in one of several processes: this process's GPU)."""
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None and active():  # each process's GPU is set by modeinterp.parallel
        dev = torch.device("cuda", torch.cuda.current_device())
    return torch.Generator(dev).manual_seed(int(seed))


def device(name: str) -> torch.device:
    """Check a device name ('cpu', 'cuda', 'cuda:1', 'mps') and that it is available here."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"parameter 'device' must be 'cpu', 'cuda', 'cuda:N' or 'mps'; got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"parameter 'device' is {name!r} but no CUDA GPU is available here; use 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"parameter 'device' is {name!r} but MPS is not available here; use 'cpu'")
    return dev
