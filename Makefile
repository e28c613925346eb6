# Shortcuts; the README's two commands work without make.
.PHONY: setup demo tour test lint bench clean

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

tour:
	bash scripts/tour.sh

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python bench/authorize.py --scale 0.01

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
