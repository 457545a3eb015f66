"""Several processes on one machine, through Hugging Face accelerate on top of torch.distributed (NCCL on GPUs,
gloo on CPUs): data-parallel training (train.fit) and sampling split by sample index (samplers).

`run(fn, args, processes, device)` starts `processes` fresh processes with accelerate's launch wrapper
(accelerate.utils.PrepareForLaunch, as accelerate.notebook_launcher does) and torch's `spawn` start method, not
notebook_launcher's `fork`: a forked process cannot use a GPU that its parent (a notebook kernel that has loaded a
model) already touched. So `fn` and `args` must be picklable: library functions, functools.partial, nn.Modules.
Each process initialises torch.distributed (accelerate's PartialState) and calls fn(*args); what the processes
return is gathered on the main process (rank 0), written to a temporary file and returned to the caller, in rank
order. One process (processes=1) never comes here: the callers keep today's single-process code path.
"""
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from . import params
from .runtime import active, default_threads

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}


def check(processes, device) -> int:
    """Check `processes` against the devices here (before any compute): at most the GPUs for CUDA, the cores for CPU."""
    processes = params.integer("processes", processes, low=1)
    kind = torch.device(device).type
    if processes == 1:
        return processes
    if kind not in BACKENDS:
        params.fail("processes", f"1 on device {kind!r} (several processes need 'cpu' or 'cuda')", processes)
    available = torch.cuda.device_count() if kind == "cuda" else (os.cpu_count() or 1)
    if processes > available:
        unit = "CUDA GPUs are" if kind == "cuda" else "CPU cores are"
        params.fail("processes", f"at most {available} ({available} {unit} visible here)", processes)
    return processes


def rank() -> tuple[int, int]:
    """(this process's index, number of processes): (0, 1) outside `run`."""
    if not active():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def local_device(device) -> torch.device:
    """The device this process computes on: `device`, or on CUDA the GPU accelerate assigned to this process."""
    if active() and torch.device(device).type == "cuda":
        from accelerate import PartialState
        return PartialState().device
    return torch.device(device)


def run(fn: Callable, args: tuple, processes: int, device) -> list:
    """fn(*args) in `processes` processes on `device` (each its own GPU on CUDA); their results, in rank order."""
    from accelerate.utils import PrepareForLaunch, patch_environment
    from torch.multiprocessing import start_processes

    processes = check(processes, device)
    kind = torch.device(device).type
    distributed_type = "MULTI_GPU" if kind == "cuda" else "MULTI_CPU"
    env = dict(nproc=processes, node_rank=0, world_size=processes, master_addr="127.0.0.1", master_port=free_port())
    if "OMP_NUM_THREADS" not in os.environ:
        env["omp_num_threads"] = default_threads()
    with tempfile.TemporaryDirectory(prefix="modeinterp-run-") as tmp:
        out = Path(tmp) / "results.pt"
        with patch_environment(**env):
            start_processes(PrepareForLaunch(_entry, distributed_type), args=(fn, args, kind, str(out)),
                            nprocs=processes, start_method="spawn")
        return torch.load(out, weights_only=False)


def _entry(fn: Callable, args: tuple, kind: str, out: str) -> None:
    """One launched process: join the process group, call fn, gather the results on the main process."""
    from accelerate import PartialState

    from .files import atomic

    state = PartialState(cpu=kind == "cpu", backend=BACKENDS[kind])
    torch.set_num_threads(default_threads())
    try:
        result = fn(*args)
        gathered = [None] * state.num_processes if state.is_main_process else None
        torch.distributed.gather_object(result, gathered, dst=0)
        if state.is_main_process:
            with atomic(out) as tmp:
                torch.save(gathered, tmp)
        state.wait_for_everyone()
    finally:
        torch.distributed.destroy_process_group()  # not state's: it skips this under accelerate's launch wrapper


def free_port() -> int:
    """A TCP port on localhost that is free now (the processes' rendezvous; JupyterLab's in ci/browser_check.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
