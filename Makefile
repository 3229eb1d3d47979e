# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: demo test test-zoo test-realworld bench lint proto clean fuzz

$(VENV)/.installed: pyproject.toml plugins/onnx/pyproject.toml plugins/gpu_trt/pyproject.toml plugins/ascend/pyproject.toml conformance/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) -e ".[dev,crypto,serve,serve-test]" -e plugins/onnx -e plugins/gpu_trt -e plugins/ascend -e conformance
	touch $@

# The serving tests also need Ray Serve and MindSpore Serving's own Python client (pure Python,
# taken out of its PyPI wheel, which has no Python 3.11 tag; see the script).
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[ray]"
	$(PY) tools/fetch_ms_serving_client.py $(VENV)/ms_serving_client
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed-test
	$(PY) -m pytest -q

# Opt-in: whole mindcv networks exported by tools/make_zoo.py into ~/.cache/mindinfer/zoo.
test-zoo: $(VENV)/.installed
	$(PY) -m pytest -q -m zoo

# Opt-in: mindyolo/mindocr/mindnlp/mindaudio networks exported by tools/make_realworld.py into
# ~/.cache/mindinfer/realworld, on both plugins.
test-realworld: $(VENV)/.installed
	$(PY) -m pytest -q -m realworld

# Opt-in: N mutants of the corpus (each run on cpu and cpu@onnx in a forked, time- and memory-limited
# child); summary table by mutation class in fuzz-out/summary.md. See tools/mindinfer_fuzz/README.md.
N ?= 3000
SEED ?= 0
fuzz: $(VENV)/.installed
	PYTHONPATH=tools $(PY) -m mindinfer_fuzz -n $(N) --seed $(SEED) --out fuzz-out

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
	cd core/mindinfer/serve/_proto && /tmp/mindinfer-protoc/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. ms_service.proto

clean:
	rm -rf $(VENV) build *.egg-info
