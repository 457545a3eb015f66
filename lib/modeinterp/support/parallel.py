"""Several processes on one machine, through Hugging Face accelerate on top of torch.distributed (NCCL on GPUs,
gloo on CPUs): data-parallel training (train.fit) and sampling split by sample index (samplers).

`run(fn, args, processes, device)` starts `processes` fresh processes with accelerate's launch wrapper
(accelerate.utils.PrepareForLaunch, as accelerate.notebook_launcher does) and torch's `spawn` start method, not
notebook_launcher's `fork`: a forked process cannot use a GPU that its parent (a notebook kernel that has loaded a
model) already touched. So `fn` and `args` must be picklable: library functions, functools.partial, nn.Modules.
Each process initialises torch.distributed (accelerate's PartialState) and calls fn(*args); what the processes
return is gathered on the main process (rank 0), written to a temporary file and returned to the caller, in rank
order. One process (processes=1) never comes here: the callers keep today's single-process code path.

`workers(n)` is a pool of n fresh processes for independent calls (train.cached_many trains missing models in it).

Stopping. Every process started here ends with the process that started it, and a stop is prompt: an interrupt
(SIGINT, Jupyter's Interrupt) or SIGTERM in the caller cancels the queued calls and stops the running ones (each
unwinds, so an atomic write in progress removes its temporary file) before the caller goes on; a started process
ignores SIGINT itself (a terminal's Ctrl-C reaches the whole process group) and leaves that to its parent, and it
ends within a second of noticing that its parent is gone (killed, or ended without cleaning up).
"""
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch

from . import params
from .runtime import active, default_threads

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
PROCESSES_ENV = "MODEINTERP_PROCESSES"  # cores a notebook may use (the batch runner sets it: cores // notebooks)
GRACE = 10.0  # seconds a stopped process has to unwind before it is killed
POLL = 0.5  # seconds between a started process's looks at its parent


class Stopped(BaseException):
    """SIGTERM arrived (see stopping): raised like an interrupt, so that the same cleanup runs."""


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


def free_cores() -> int:
    """The cores a notebook may use: $MODEINTERP_PROCESSES if set (`make reproduce` running two notebooks at once
    on 2 cores sets 1), else those this process may run on (its CPU affinity, capped by a cgroup CPU quota), and
    one per GB_PER_PROCESS of a cgroup memory limit (Binder's 2 GB: one), since every process loads torch anew."""
    value = os.environ.get(PROCESSES_ENV, "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{PROCESSES_ENV} must be a positive integer; got {value!r}")
        return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota, memory = _cgroup_limits()
    by_memory = None if memory is None else int(memory // (GB_PER_PROCESS * 1e9))
    return max(1, min(cores, quota or cores, cores if by_memory is None else by_memory))


GB_PER_PROCESS = 2.0  # a notebook's kernel peaks near 1.2 GB with one process, each further one adds 0.35-0.7 GB


def _cgroup_limits() -> tuple[int | None, float | None]:
    """(CPUs a cgroup quota allows, rounded down; bytes of its memory limit), None where unset (v2, else v1)."""
    root = Path("/sys/fs/cgroup")
    cpu = _read(root / "cpu.max") or _read(root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us")
    memory = _read(root / "memory.max") or _read(root / "memory" / "memory.limit_in_bytes")
    quota = None if not cpu or cpu[0] in ("max", "-1") else max(1, int(cpu[0]) // int(cpu[1]))
    limit = None if not memory or memory[0] == "max" or int(memory[0]) >= 2**60 else float(memory[0])
    return quota, limit


def _read(*paths: Path) -> list[str] | None:
    """The whitespace-separated words of these files, in order; None if one cannot be read."""
    try:
        return [word for path in paths for word in path.read_text().split()]
    except OSError:
        return None


def notebook_processes(processes: int, device) -> tuple[int, int]:
    """(sampling, training) processes for a notebook's `processes`: 0 means every free core on the CPU
    (free_cores) or every GPU on CUDA. Models train data-parallel only on GPUs: on the CPU they train in one
    process, the path the shipped models were made with (more would change their bits); sampling does not depend
    on it."""
    processes = params.integer("processes", processes, low=0)
    kind = torch.device(device).type
    if processes == 0:
        processes = torch.cuda.device_count() if kind == "cuda" else free_cores() if kind == "cpu" else 1
    processes = check(processes, device)
    return processes, (processes if kind == "cuda" else 1)


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
    with stopping(), tempfile.TemporaryDirectory(prefix="modeinterp-run-") as tmp:
        out = Path(tmp) / "results.pt"
        with patch_environment(**env):
            context = start_processes(PrepareForLaunch(_entry, distributed_type),
                                      args=(fn, args, kind, str(out), os.getpid()), nprocs=processes,
                                      start_method="spawn", join=False)
        try:
            while not context.join():
                pass
        except BaseException:
            end(context.processes)
            raise
        return torch.load(out, weights_only=False)


def _entry(fn: Callable, args: tuple, kind: str, out: str, parent: int) -> None:
    """One launched process: join the process group, call fn, gather the results on the main process; then end at
    once, without the interpreter's shutdown: a gloo thread may still be freeing the last collective's tensors,
    which takes the GIL, and during the shutdown that aborts the process (SIGABRT, "terminate called without an
    active exception": a few runs in a hundred on a loaded 2-core machine)."""
    guard(parent)
    task(_gathered, fn, args, kind, out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _gathered(fn: Callable, args: tuple, kind: str, out: str) -> None:
    """fn(*args) in each launched process, the results gathered on the main process and written to `out`."""
    from accelerate import PartialState

    from .files import atomic

    state = PartialState(cpu=kind == "cpu", backend=BACKENDS[kind])
    torch.set_num_threads(default_threads())
    try:
        gathered = gather(fn(*args))
        if state.is_main_process:
            with atomic(out) as tmp:
                torch.save(gathered, tmp)
        state.wait_for_everyone()
    finally:
        torch.distributed.destroy_process_group()  # not state's: it skips this under accelerate's launch wrapper


def gather(obj) -> list | None:
    """The objects `obj` of every process (in `run`), in rank order, on the main process; None in the others."""
    index, world = rank()
    gathered = [None] * world if index == 0 else None
    torch.distributed.gather_object(obj, gathered, dst=0)
    return gathered


@contextmanager
def workers(n: int) -> Iterator[Callable[..., Future]]:
    """A pool of `n` fresh (spawned) processes: yields submit(fn, *args) -> Future of fn(*args) (fn and args
    picklable: library functions, functools.partial). Leaving the block by an exception (an interrupt, SIGTERM, a
    call that failed) cancels the queued calls and ends the running ones before the exception goes on."""
    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=guard,
                               initargs=(os.getpid(),))
    with stopping():
        try:
            yield partial(pool.submit, task)
        except BaseException:
            running = list((pool._processes or {}).values())  # no public handle on them before Python 3.14
            end(running, wait=False)
            pool.shutdown(wait=False, cancel_futures=True)
            end(running)
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)


def end(processes: list, wait: bool = True) -> None:
    """Stop started processes: SIGTERM (each unwinds, see task), then (with wait) SIGKILL for any still running
    after GRACE."""
    for p in processes:
        if p.is_alive():
            p.terminate()
    if not wait:
        return
    deadline = time.monotonic() + GRACE
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


@contextmanager
def stopping() -> Iterator[None]:
    """Within the block (in the main thread), SIGTERM raises Stopped, so that the cleanup of an interrupt runs
    (started processes ended, temporary files removed); when Stopped leaves the block, SIGTERM is handled as it was
    before (by default: the process ends, as whoever sent it asked)."""
    previous = signal.getsignal(signal.SIGTERM)
    if (threading.current_thread() is not threading.main_thread()
            or previous in (None, signal.SIG_IGN, _raise_stopped, _stop_worker)):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    except Stopped:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_stopped(signum, frame):
    """SIGTERM within `stopping`: raise Stopped once (a second SIGTERM does not interrupt the cleanup)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped(f"stopped by {signal.Signals(signum).name}")


_in_task = False  # in a started process: whether it is running a call (see task)


def guard(parent: int) -> None:
    """First thing in a started process: ignore SIGINT (the parent stops its processes), let SIGTERM stop it
    (see task), and end it when `parent` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    threading.Thread(target=_watch, args=(parent,), name="modeinterp-parent", daemon=True).start()


def task(fn: Callable, *args):
    """fn(*args) in a started process; SIGTERM during it unwinds it (an atomic write removes its temporary file)
    and ends the process."""
    global _in_task
    _in_task = True
    try:
        return fn(*args)
    except Stopped:
        os._exit(128 + signal.SIGTERM)
    finally:
        _in_task = False


def _stop_worker(signum, frame):
    """SIGTERM in a started process: unwind the running call (see task), or end at once when idle; a second
    SIGTERM does not interrupt the unwinding."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _in_task:
        raise Stopped(f"stopped by {signal.Signals(signum).name}")
    os._exit(128 + signum)


def _watch(parent: int) -> None:
    """In a started process: once `parent` is gone, stop as if by SIGTERM, and end regardless after GRACE."""
    while os.getppid() == parent:
        time.sleep(POLL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE)
    os._exit(1)


def free_port() -> int:
    """A TCP port on localhost that is free now (the processes' rendezvous; JupyterLab's in ci/browser_check.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
