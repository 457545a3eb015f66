# The two commands: `make reproduce` (every notebook at its defaults) and `make test` (library tests + nbval).
# Each creates its own virtual environment in .venv from the pinned versions in ci/requirements.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.modeinterp-installed
DEVICE ?= cuda
# notebooks (and test files) run at once by `make reproduce` and `make test`, one thread each; each notebook samples
# in cores // JOBS processes (MODEINTERP_PROCESSES): one each on 2 cores, which keeps every notebook within Binder's
# memory (see the README's speed section); a notebook run alone samples on every free core
JOBS   ?= 2

.PHONY: env reproduce test paper gpu-check book browser-check models benchmark readme clean-venv study

env: $(STAMP)

$(STAMP): ci/requirements.txt pyproject.toml
	bash ci/setup_env.sh $(PYTHON) $(VENV)
	touch $@

reproduce: env  ## run every notebook at its defaults (in place), write figures/ and claims, update the README table
	$(BIN)/python ci/run_notebooks.py --timings warm --jobs $(JOBS)
	$(BIN)/python ci/readme.py

test: env  ## the library's tests and nbval re-executing every committed notebook but 07 (ci/run_notebooks.py NOT_REEXECUTED_BY_TESTS) with the shipped models, JOBS at once
	MODEINTERP_CACHE=readonly MODEINTERP_PROGRESS=0 MODEINTERP_PROCESSES=1 $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with ci/nbval_sanitize.cfg -p no:randomly -n $(JOBS) --dist loadfile --no-loadscope-reorder

paper: env  ## the paper's scale (use a GPU; every GPU found trains and samples data-parallel): outputs go to runs/paper/, the committed notebooks stay as they are
	$(BIN)/python ci/study.py --config ci/paper/study.yaml --device cuda --results runs/paper/study.json --work runs/paper/study
	$(BIN)/python ci/run_notebooks.py --paper --processes auto --out runs/paper

gpu-check: env  ## every notebook at the paper's shapes, shortened (ci/gpu_check.yaml), on DEVICE (cuda; cpu works too): outputs in runs/gpu-check/
	$(BIN)/python ci/gpu_check.py --device $(DEVICE)

book: env  ## the static book of the executed notebooks, never executing them (MkDocs): build/book/index.html
	$(BIN)/python ci/book.py

browser-check: book  ## every page of the book in headless Chromium (`apt-get install chromium`): fails on a missing image or broken local link; screenshots in runs/browser-check/book/ (`python ci/browser_check.py lab`: notebook 01 run in JupyterLab)
	$(BIN)/python ci/browser_check.py

study: env  ## the training-budget study, shapes and hands to 24,000 steps (hours on 2 cores; resumable): figures/06_training_budget/study*.json
	$(BIN)/python ci/study.py

models: env  ## remake every shipped model from scratch by running the notebooks at their defaults
	$(BIN)/python ci/make_models.py

readme: env  ## regenerate README.md (from ci/README.template.md) and RESULTS.md from the claims, ci/verdicts.yaml and ci/links.yaml
	$(BIN)/python ci/readme.py

clean-venv:
	rm -rf $(VENV)

benchmark: env  ## speed and memory of training, sampling and the metric (not part of the tests)
	$(BIN)/python ci/benchmark.py
