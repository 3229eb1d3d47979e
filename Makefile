# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: demo test test-zoo test-realworld bench lint proto clean

$(VENV)/.installed: pyproject.toml plugins/onnx/pyproject.toml conformance/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) -e ".[dev,crypto]" -e plugins/onnx -e conformance
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest -q

# Opt-in: whole mindcv networks exported by tools/make_zoo.py into ~/.cache/mindinfer/zoo.
test-zoo: $(VENV)/.installed
	$(PY) -m pytest -q -m zoo

# Opt-in: mindyolo/mindocr/mindnlp/mindaudio networks exported by tools/make_realworld.py into
# ~/.cache/mindinfer/realworld, on both plugins.
test-realworld: $(VENV)/.installed
	$(PY) -m pytest -q -m realworld

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_zoo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check core plugins conformance tests
	$(VENV)/bin/mypy core/mindinfer

# Regenerates the protobuf modules from core/mindinfer/_proto/{mind_ir,checkpoint}.proto (gencode 6.31
# so that any protobuf runtime >= 6.31.1 accepts it).
proto:
	$(PYTHON) -m venv /tmp/mindinfer-protoc
	/tmp/mindinfer-protoc/bin/pip install -q "grpcio-tools==1.75.*"
	cd core/mindinfer/_proto && /tmp/mindinfer-protoc/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. mind_ir.proto checkpoint.proto

clean:
	rm -rf $(VENV) build *.egg-info
