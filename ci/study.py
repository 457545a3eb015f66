"""The training-budget study (`make study`): per series (the simple shapes, the procedural hands) one training run,
checkpoints at geometrically spaced steps, the window study at each; results in figures/06_training_budget/
study.json (shapes) and study_hands.json (hands), read by notebook 06.

    python ci/study.py                                   # both series at their defaults (hours on 2 cores; resumable)
    python ci/study.py --series hands                    # one series
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
RESULTS = {"shapes": ROOT / "figures" / "06_training_budget" / "study.json",
           "hands": ROOT / "figures" / "06_training_budget" / "study_hands.json"}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="a YAML file of settings overriding modeinterp.experiments.budget.STUDY")
    ap.add_argument("--set", nargs=2, action="append", metavar=("NAME", "VALUE"), help="one setting (YAML value)")
    ap.add_argument("--series", choices=["both", *budget.SERIES], default="both", help="which series to run")
    ap.add_argument("--results", type=Path, help="the results file (default: figures/06_training_budget/, by series)")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "study", help="checkpoints (not committed)")
    ap.add_argument("--workers", type=int, default=2, help="processes: one trains, the others evaluate (1: train, then evaluate)")
    ap.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (paper scale)")
    ap.add_argument("--no-train", action="store_true",
                    help="evaluate only the checkpoints already saved (while their training runs elsewhere)")
    args = ap.parse_args(argv)
    overrides = yaml.safe_load(args.config.read_text()) if args.config else {}
    overrides.update({name: yaml.safe_load(value) for name, value in args.set or []})
    series = list(budget.SERIES) if args.series == "both" else [args.series]
    if args.results and len(series) > 1:
        raise SystemExit("--results names one file: give --series shapes or --series hands with it")
    try:
        settings = [budget.study_config(name, **overrides) for name in series]
        device = str(runtime.device(args.device))
    except ValueError as e:
        raise SystemExit(f"study settings: {e}") from None
    for s in settings:
        results = args.results or RESULTS[s["series"]]
        records = budget.run_study(s, args.work, results, args.workers, device, train_too=not args.no_train)
        print(f"{s['series']}: {len(records)} records in {results}")


if __name__ == "__main__":
    main()
