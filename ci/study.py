"""The training-budget study of the simple shapes (`make study`): one training run, checkpoints at geometrically
spaced steps, the window study at each; results in figures/06_training_budget/study.json (read by notebook 06).

    python ci/study.py                                   # the defaults (an hour or more on 2 cores)
    python ci/study.py --config ci/paper/study.yaml --results runs/paper/study.json --work runs/paper/study
    python ci/study.py --set checkpoints '[500, 1000]' --set n_samples 500 --results runs/quick.json

Checkpoints are kept in --work (not committed); an interrupted study reuses them and the records already written.
"""
import argparse
from pathlib import Path

import yaml

from modeinterp.experiments import budget
from modeinterp.support import runtime

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="a YAML file of settings overriding modeinterp.experiments.budget.STUDY")
    ap.add_argument("--set", nargs=2, action="append", metavar=("NAME", "VALUE"), help="one setting (YAML value)")
    ap.add_argument("--results", type=Path, default=ROOT / "figures" / "06_training_budget" / "study.json")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "study", help="checkpoints (not committed)")
    ap.add_argument("--workers", type=int, default=2, help="processes: one trains, the others evaluate")
    ap.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (paper scale)")
    args = ap.parse_args(argv)
    overrides = yaml.safe_load(args.config.read_text()) if args.config else {}
    overrides.update({name: yaml.safe_load(value) for name, value in args.set or []})
    try:
        settings = budget.study_config(**overrides)
        device = str(runtime.device(args.device))
    except ValueError as e:
        raise SystemExit(f"study settings: {e}") from None
    records = budget.run_study(settings, args.work, args.results, args.workers, device)
    print(f"{len(records)} records in {args.results}")


if __name__ == "__main__":
    main()
