#!/usr/bin/env bash
# Create the virtual environment $2 with python $1 and install the pinned requirements and the library.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
"$python" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed"'
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet -r "$here/ci/requirements.txt"
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$here"
"$venv/bin/python" -c 'import modeinterp, torch; print("environment ready: torch", torch.__version__)'
