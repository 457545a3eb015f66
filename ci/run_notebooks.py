"""Run notebooks with papermill, in batch: at their defaults (in place), or with a parameter file.

    python ci/run_notebooks.py                         # every notebook at its defaults, outputs stored in place
    python ci/run_notebooks.py notebooks/01_gaussian_1d.ipynb -p n_samples 20000 --out runs/
    python ci/run_notebooks.py --paper --out runs/paper  # each notebook with ci/paper/<name>.yaml (use a GPU)
    python ci/run_notebooks.py --paper --processes auto --out runs/paper  # ... on every GPU here (`make paper`)

Parameter names are checked against each notebook's `parameters` cell before anything runs (papermill itself
only warns on an unknown name). Outputs are written atomically, with papermill's timing metadata stripped.
Each notebook's kernel gets the cores free to it ($MODEINTERP_PROCESSES: the cores here divided by --jobs), and
its peak memory (resident, summed over the kernel and the processes it starts) is measured with its minutes.
"""
import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import nbformat
import papermill as pm
import psutil
import yaml
from jupyter_client.manager import AsyncKernelManager

from modeinterp.support import parallel
from modeinterp.support.files import atomic

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
PAPER = ROOT / "ci" / "paper"
AWAITING_FIRST_RUN = ()  # committed without outputs until their first default run here stores them:
# nbval has nothing to compare them with (conftest.py leaves them out) and the tests of stored outputs skip them
REUSES_MODELS = ("07_detectors",)  # loads notebooks 01-04's models: `make models` runs it after them
NOT_REEXECUTED_BY_TESTS = ("07_detectors",)  # its default run takes longer on one core than the whole test command
# may (figures/timings.json): nbval leaves it out (conftest.py); its stored claims table is checked against its claims
# file (tests/test_notebooks.py), and what it runs by tests/test_compare.py and tests/test_detectors.py


def check_names(notebook: Path, parameters: dict) -> None:
    """Exit with a clear message if a parameter is not in the notebook's parameters cell."""
    known = parameters_of(notebook)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        sys.exit(f"{notebook.name}: unknown parameter(s) {', '.join(unknown)}; "
                 f"allowed: {', '.join(sorted(known))}")


def parameters_of(notebook: Path) -> dict:
    """The notebook's parameters (papermill's inspection); exit with one line if it is not a readable notebook."""
    if notebook.suffix != ".ipynb":
        sys.exit(f"{notebook} is not a notebook (.ipynb file)")
    try:
        return pm.inspect_notebook(str(notebook))
    except Exception as e:  # whatever nbformat or papermill raise on a file that is not a notebook
        sys.exit(f"{notebook} is not a readable notebook: {first_line(e)}")


def read_yaml(text: str, what: str):
    """A YAML value; exit with one line saying where, if the text is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
        where = f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark and problem else first_line(e)
        sys.exit(f"{what} is not valid YAML: {where}")


def first_line(error: Exception) -> str:
    """An error's message on one line."""
    return " ".join(str(error).split())


def strip_timings(path: Path) -> None:
    """Remove papermill's and nbclient's per-run timing metadata, keeping outputs and execution counts."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


class PeakMemory:
    """The peak resident memory of a kernel and every process it starts (their RSS summed, which counts pages they
    share once per process: an upper bound), polled every `every` seconds in a thread while the block runs."""

    def __init__(self, km: AsyncKernelManager, every: float = 0.2):
        self.km, self.every, self.peak, self.at = km, every, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            pid = getattr(self.km.provisioner, "pid", None) if self.km.provisioner else None
            rss = tree_rss(pid) if pid else 0
            if rss > self.peak:
                self.peak, self.at = rss, datetime.now().astimezone()

    @property
    def mb(self) -> float:
        """The peak in MB (10^6 bytes)."""
        return self.peak / 1e6


def tree_rss(pid: int) -> int:
    """Bytes resident in process `pid` and its descendants (0 for those that ended while being read)."""
    total = 0
    try:
        root = psutil.Process(pid)
        for p in [root] + root.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


PARTS = {"fork test": "fork.fork_test("}  # parts whose minutes are recorded apart: name -> a call in their cell


def part_minutes(path: Path) -> dict:
    """Minutes of the code cells making each of PARTS, from papermill's timing metadata (parts not run: absent)."""
    out = {}
    for cell in nbformat.read(path, as_version=4).cells:
        seconds = cell.metadata.get("papermill", {}).get("duration")
        for name, call in PARTS.items():
            if cell.cell_type == "code" and call in cell.source and seconds is not None:
                out[name] = out.get(name, 0.0) + seconds / 60
    return out


def run(notebook: Path, parameters: dict, out: Path) -> tuple[Path, float, dict]:
    """Execute one notebook with `parameters` into `out`, atomically; return it, its kernel's peak memory (MB) and
    the minutes of its PARTS."""
    km = AsyncKernelManager(kernel_name="python3")
    with atomic(out, suffix=".tmp.ipynb") as tmp, PeakMemory(km) as memory:
        pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, cwd=str(notebook.parent),
                            kernel_name="python3", progress_bar=False, km=km)
        cell, parts = cell_at(tmp, memory.at), part_minutes(tmp)
        strip_timings(tmp)
    print(f"ran {shown(notebook)} -> {shown(out)}; "
          f"peak memory {memory.mb:,.0f} MB" + (f" (code cell {cell})" if cell is not None else ""), flush=True)
    return out, memory.mb, parts


def shown(path: Path) -> Path:
    """A path as printed: relative to the repository where it lies in it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def cell_at(path: Path, when: datetime | None) -> int | None:
    """The number (1 = the first code cell) of the code cell that was running at `when`, from papermill's
    timing metadata; None if none was."""
    if when is None:
        return None
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        times = cell.metadata.get("papermill", {})
        start, end = times.get("start_time"), times.get("end_time")
        if start and end and datetime.fromisoformat(start) <= when <= datetime.fromisoformat(end):
            return number
    return None


def parameters_for(notebook: Path, args) -> dict:
    """The parameters for one notebook: the paper file (with --paper), then --params, then -p."""
    params = {}
    files = ([PAPER / f"{notebook.stem}.yaml"] if args.paper else []) + ([Path(args.params)] if args.params else [])
    for f in (f.resolve() for f in files):
        if not f.is_file():
            sys.exit(f"parameter file {f} does not exist")
        values = read_yaml(f.read_text(), f"parameter file {f}") or {}
        if not isinstance(values, dict):
            sys.exit(f"parameter file {f} must hold 'name: value' lines (a YAML mapping); it holds a "
                     f"{type(values).__name__}")
        params.update(values)
    processes = getattr(args, "processes", None)
    if processes is not None and "processes" in parameters_of(notebook):  # notebooks without it: as is
        params["processes"] = gpu_count() if processes == "auto" else int(processes)
    for name, value in args.p or []:
        params[name] = read_yaml(value, f"-p {name} {value}")
    return params


def gpu_count() -> int:
    """The CUDA GPUs visible here (at least 1: one process on the CPU when there are none)."""
    import torch
    return max(1, torch.cuda.device_count())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a parameter (YAML value)")
    ap.add_argument("--params", help="a YAML file of parameters")
    ap.add_argument("--paper", action="store_true", help="use ci/paper/<notebook>.yaml: the paper's scale")
    ap.add_argument("--processes", metavar="N|auto", help="set the parameter `processes` (GPUs used, data-parallel) "
                    "of the notebooks that have it; auto: every GPU visible (`make paper`). -p overrides it")
    ap.add_argument("--out", type=Path, help="folder for executed notebooks (default: in place)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at once, one thread each, longest first "
                    "(default 1; `make reproduce` runs 2 on 2 cores)")
    ap.add_argument("--timings", choices=["cold", "warm"], help="record each notebook's minutes in "
                    "figures/timings.json as a cold-cache (all models trained) or warm-cache (shipped models) run")
    args = ap.parse_args(argv)
    if args.processes not in (None, "auto") and not args.processes.isdigit():
        sys.exit(f"--processes must be a positive integer or auto; got {args.processes!r}")
    notebooks = [n.resolve() for n in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    jobs = []
    for nb in notebooks:
        if not nb.exists():
            sys.exit(f"no notebook {nb}")
        parameters_of(nb)
        params = parameters_for(nb, args)
        check_names(nb, params)
        jobs.append((nb, params, (args.out.resolve() / nb.name) if args.out else nb))
    if (args.paper or args.params or args.p) and not args.out:
        sys.exit("non-default parameters need --out DIR: the committed notebooks hold the default run")
    if args.jobs < 1:
        sys.exit(f"--jobs must be a positive integer; got {args.jobs}")
    os.environ.setdefault(parallel.PROCESSES_ENV, str(max(1, parallel.free_cores() // args.jobs)))
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {job[0].stem: pool.submit(timed, *job) for job in longest_first(jobs, lambda job: job[0].stem)}
        measured = {stem: f.result() for stem, f in futures.items()}
    wall = (time.perf_counter() - start) / 60
    print(f"{len(jobs)} notebook(s) in {wall:.1f} min wall-clock, {args.jobs} at once")
    if args.timings:
        whole = sorted(nb.stem for nb in notebooks) == sorted(nb.stem for nb in NOTEBOOKS.glob("[0-9]*.ipynb"))
        record_timings(measured, args.timings, wall if whole else None, args.jobs)


def timed(notebook: Path, parameters: dict, out: Path) -> tuple[float, float, dict]:
    """Run one notebook; return its wall-clock minutes, its kernel's peak memory (MB) and its PARTS' minutes."""
    start = time.perf_counter()
    _, peak_mb, parts = run(notebook, parameters, out)
    return (time.perf_counter() - start) / 60, peak_mb, parts


def timings_path() -> Path:
    """figures/timings.json: the minutes per notebook and run (see recorded_timings)."""
    return ROOT / "figures" / "timings.json"


def recorded_timings() -> dict:
    """figures/timings.json: {"notebooks": {stem: {kind: minutes, kind_peak_mb: MB, kind_parts: {part: minutes}}},
    "runs": {kind: {"minutes", "jobs"}}}; a run is recorded only when it ran every notebook."""
    path = timings_path()
    return json.loads(path.read_text()) if path.exists() else {"notebooks": {}, "runs": {}}


def longest_first(things: list, stem_of) -> list:
    """`things` ordered by their notebook's recorded warm minutes, longest first, so parallel runs finish together:
    notebooks with no record first, then the recorded ones, then things that are not notebooks (stem None)."""
    recorded = recorded_timings()["notebooks"]

    def minutes(thing):
        stem = stem_of(thing)
        return -1.0 if stem is None else recorded.get(stem, {}).get("warm", float("inf"))
    return sorted(things, key=lambda thing: -minutes(thing))


def record_timings(measured: dict, kind: str, wall: float | None, jobs: int) -> None:
    """Merge this run's minutes, peak memory and parts' minutes per notebook ({stem: (minutes, MB, {part: minutes})})
    and, for a run of every notebook (wall not None), its wall-clock total into figures/timings.json (read by
    `make benchmark`)."""
    path, table = timings_path(), recorded_timings()
    for stem, (minutes, peak_mb, *parts) in measured.items():
        row = table["notebooks"].setdefault(stem, {})
        row.update({kind: round(minutes, 2), f"{kind}_peak_mb": round(peak_mb)})
        row.pop(f"{kind}_parts", None)
        if parts and parts[0]:
            row[f"{kind}_parts"] = {name: round(m, 2) for name, m in parts[0].items()}
    if wall is not None:
        table["runs"][kind] = {"minutes": round(wall, 2), "jobs": jobs}
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"{kind}-cache minutes and peak MB recorded in {path.relative_to(ROOT)}: "
          + ", ".join(f"{s} {m:.1f} min {mb:,.0f} MB" for s, (m, mb, *_) in measured.items()))


if __name__ == "__main__":
    main()
