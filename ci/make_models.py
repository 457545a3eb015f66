"""Remake every shipped model from scratch: set models/ aside, run every notebook at its defaults (which
trains what it needs and stores it in models/), and keep the old models only if that fails.

    make models            # or: python ci/make_models.py
"""
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks  # noqa: E402

MODELS = run_notebooks.ROOT / "models"


def main() -> None:
    backup = MODELS.with_name(f"models.old-{int(time.time())}")
    if MODELS.exists():
        MODELS.rename(backup)
    MODELS.mkdir()
    start = time.time()
    try:
        run_notebooks.main(["--timings", "cold"])
    except BaseException:
        shutil.rmtree(MODELS)
        if backup.exists():
            backup.rename(MODELS)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    files = sorted(MODELS.glob("*.pt"))
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"remade {len(files)} models ({size:.1f} MB) in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
