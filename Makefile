# Set-up is automatic: every target creates and fills .venv on first use (CPU build of PyTorch).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,mesh,nfn,tensorboard,wandb]"
	touch $(STAMP)

## demo: the main job (weightaug demo): dwsnet on digits INRs, one view against four, and at one view plain training
## against SIREN negation and sign-aware aligned MixUp, the pixel baseline; prints the table and its findings and
## saves runs/demo/demo.png (about 5 minutes)
demo: $(STAMP)
	$(BIN)/weightaug demo

## test: the test suite (Fashion-MNIST tests skip unless dataset-fashion-mnist is installed)
test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_fit_lr.py
	$(BIN)/python benchmarks/bench_augment.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_was.py
	$(BIN)/python benchmarks/bench_was_compile.py
	$(BIN)/python benchmarks/bench_eval_batch.py
	$(BIN)/python benchmarks/bench_fit_occupancy.py
	$(BIN)/python benchmarks/bench_distributed.py
	$(BIN)/python benchmarks/bench_shared_cores.py
	$(BIN)/python benchmarks/bench_cold_start.py

clean:
	rm -rf runs .pytest_cache
