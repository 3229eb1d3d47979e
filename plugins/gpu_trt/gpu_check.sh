#!/usr/bin/env bash
# The tensorrt plugin's CUDA-layer tests on a machine with an NVIDIA GPU, CUDA, cuda-python and CuPy
# (TensorRT not needed): memory, streams, copies, CuPy inputs, GPU outputs, the context pool.
# Run from the repository root: plugins/gpu_trt/gpu_check.sh   (a few minutes at most)
# Uses .venv when it exists (make test made it), else the machine's python3 with the repository's
# packages on PYTHONPATH; it says which Python modules are missing instead of failing obscurely.
# A machine without network that lacks pluggy/protobuf/pytest: on a machine with network run
#   pip install --target .gpu_deps pluggy protobuf pytest
# in the repository, and bring .gpu_deps along; this script puts it on PYTHONPATH.
set -u
cd "$(dirname "$0")/../.."
PY=python3
[ -x .venv/bin/python ] && .venv/bin/python -c "import cupy, cuda.bindings" 2>/dev/null && PY=.venv/bin/python
export PYTHONPATH="core:plugins/cpu:plugins/onnx:plugins/gpu_trt${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu_deps ] && export PYTHONPATH="$PYTHONPATH:.gpu_deps"
export MINDINFER_DISABLE_PLUGIN_AUTOLOAD=1
echo "== python: $($PY -c 'import sys; print(sys.executable, sys.version.split()[0])')"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 | sed 's/^/== gpu: /'
missing=""
for m in numpy pluggy google.protobuf pytest cuda.bindings cupy; do
    $PY -c "import $m" 2>/dev/null || missing="$missing $m"
done
$PY -c "import cuda.bindings, cupy; print('== cuda-bindings', cuda.bindings.__version__, '| cupy', cupy.__version__)" 2>/dev/null
if [ -n "$missing" ]; then
    echo "== missing Python modules:$missing (pip install them, then run again)"
    exit 2
fi
$PY -c "import mindinfer_tensorrt._probe as p; print('== driver probe:', p.probe_driver())"
exec $PY -m pytest -q -m gpu -p no:cacheprovider tests/plugins/gpu_trt/test_trt_gpu.py -rs "$@"
