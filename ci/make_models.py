"""Remake every shipped model from scratch: set models/ aside, run every notebook at its defaults (which
trains what it needs and stores it in models/), and keep the old models only if that fails.

An interrupted or failed run keeps what it made (the models stored, and the checkpoints of those in training: see
modeinterp.method.train) in models.partial/ and puts the old models back; the next run resumes from there (remove
models.partial/ to start from scratch). A run killed before it could do that (SIGKILL, a power cut) leaves its work
in models/ and the old models in models.old/: the next run goes on in models/.

    make models            # or: python ci/make_models.py
"""
import contextlib
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks  # noqa: E402

MODELS = run_notebooks.ROOT / "models"
OLD = MODELS.with_name("models.old")  # the models before this run: back in models/ if it fails
PARTIAL = MODELS.with_name("models.partial")  # an interrupted run's work: the next run resumes from it


def main() -> None:
    resumed = OLD.exists() or PARTIAL.exists()  # then the notebooks' minutes are not a cold run's
    if not OLD.exists():  # else a killed run left its work in models/ (and the old models in models.old/)
        if MODELS.exists():
            MODELS.rename(OLD)
        if PARTIAL.exists():
            PARTIAL.rename(MODELS)
    MODELS.mkdir(exist_ok=True)
    start = time.time()
    try:
        timings = [] if resumed else ["--timings", "cold"]
        every = sorted(run_notebooks.NOTEBOOKS.glob("[0-9]*.ipynb"))
        reusing = [nb for nb in every if nb.stem in run_notebooks.REUSES_MODELS]
        run_notebooks.main(timings + [str(nb) for nb in every if nb not in reusing])  # these train every model
        if reusing:  # then these load them (run at once, they would train the same models twice)
            run_notebooks.main(timings + [str(nb) for nb in reusing])
    except BaseException:
        shutil.rmtree(PARTIAL, ignore_errors=True)
        MODELS.rename(PARTIAL)
        if OLD.exists():
            OLD.rename(MODELS)
        print(f"make models: what this run made is in {PARTIAL}; the next run resumes from it", file=sys.stderr)
        raise
    shutil.rmtree(OLD, ignore_errors=True)
    with contextlib.suppress(OSError):
        (MODELS / "checkpoints").rmdir()  # empty: each checkpoint is removed once its model is stored
    files = sorted(MODELS.glob("*.pt"))
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"remade {len(files)} models ({size:.1f} MB) in {(time.time() - start) / 60:.1f} min"
          + (" (resumed: timings not recorded)" if resumed else ""))


if __name__ == "__main__":
    main()
