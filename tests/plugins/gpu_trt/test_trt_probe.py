"""Device probing and every reason a GPU is unusable, each simulated by a stand-in that says so."""

from __future__ import annotations

import types

import pytest
from mindinfer_tensorrt import _probe
from mindinfer_tensorrt._probe import GpuInfo
from mindinfer_tensorrt.backend import Environment, TensorRTBackend
from stand_ins import H200, FakeDriverForTests, FakeTensorRTForTests, environment


def _devices(env: Environment) -> list:  # type: ignore[type-arg]
    return TensorRTBackend(probe=lambda: env).devices()


def test_a_working_machine_is_usable_with_details() -> None:
    (dev,) = _devices(environment())
    assert dev.usable and dev.reason == "" and dev.kind == "gpu" and dev.index == 0
    assert dev.name == H200.name and dev.chip == "sm90"
    assert dev.details["compute_capability"] == "9.0" and dev.details["memory"] == "141.0 GiB"
    assert dev.details["driver_cuda"] == "12.4" and dev.details["tensorrt"] == "10.9.0"
    assert dev.details["driver"] == "550.54.15 (stand-in)" and dev.details["cuda-python"] == "12.9.0"
    assert dev.details["note"] == _probe.NOT_VERIFIED


def test_every_gpu_is_listed() -> None:
    two = (H200, GpuInfo(1, "Tesla T4 (stand-in)", (7, 5), 16 * 2**30))
    devs = _devices(environment(driver=FakeDriverForTests(two)))
    assert [(d.index, d.chip, d.usable) for d in devs] == [(0, "sm90", True), (1, "sm75", True)]


def test_no_driver() -> None:
    def no_libcuda() -> None:
        raise OSError("libcuda.so.1: cannot open shared object file: No such file or directory")

    env = Environment(_probe.probe_driver(no_libcuda), _probe.CudaPythonProbe("12.9.0"), _probe.TensorRTProbe())
    (dev,) = _devices(env)
    assert not dev.usable and dev.reason.startswith("no NVIDIA driver: the CUDA driver library could not be loaded")
    assert "libcuda.so.1" in dev.reason and "install the NVIDIA driver" in dev.reason


@pytest.mark.parametrize(
    ("code", "words"), [(100, "sees no NVIDIA GPU"), (35, "older than this CUDA needs"), (999, "failed to initialize")]
)
def test_driver_present_but_failing(code: int, words: str) -> None:
    (dev,) = _devices(environment(driver=FakeDriverForTests(init_error=code)))
    assert not dev.usable and "the NVIDIA driver is installed but cuInit failed" in dev.reason and words in dev.reason


def test_driver_with_no_gpu() -> None:
    (dev,) = _devices(environment(driver=FakeDriverForTests(gpus=())))
    assert not dev.usable and dev.reason == "the NVIDIA driver reports no GPU (check nvidia-smi)"


def _importer(error: BaseException | None = None, module: object = None):  # type: ignore[no-untyped-def]
    def load(name: str) -> object:
        if error is not None:
            raise error
        return module

    return load


def test_tensorrt_not_installed_points_at_nvidias_index() -> None:
    err = ModuleNotFoundError("No module named 'tensorrt'", name="tensorrt")
    probe = _probe.probe_tensorrt(_importer(err))
    assert probe.module is None and probe.problem.startswith("tensorrt is not installed")
    assert "https://pypi.nvidia.com" in probe.problem and "tensorrt-cu12" in probe.problem
    env = Environment(environment().driver, environment().cuda, probe)
    (dev,) = _devices(env)
    assert not dev.usable and dev.reason == probe.problem and dev.details["tensorrt"] == "not available"


def test_bindings_without_libraries() -> None:
    err = ImportError("libnvonnxparser.so.11: cannot open shared object file: No such file or directory")
    probe = _probe.probe_tensorrt(_importer(err))
    assert probe.problem.startswith("tensorrt's Python bindings are installed but its libraries are missing")
    assert "libnvonnxparser.so.11" in probe.problem and "tensorrt-cuXX-libs" in probe.problem


def test_libs_wheel_missing_is_also_missing_libraries() -> None:
    err = ModuleNotFoundError("No module named 'tensorrt_libs'", name="tensorrt_libs")
    assert "libraries are missing" in _probe.probe_tensorrt(_importer(err)).problem


def test_other_import_failure_is_reported_not_raised() -> None:
    problem = _probe.probe_tensorrt(_importer(RuntimeError("CUDA initialization failure"))).problem
    assert problem == "import tensorrt failed: RuntimeError: CUDA initialization failure"


def test_unsupported_tensorrt_version() -> None:
    problem = _probe.probe_tensorrt(_importer(module=FakeTensorRTForTests("8.6.1"))).problem
    assert problem.startswith("TensorRT 8.6.1 is installed, but this plugin needs TensorRT 10.x or 11.x")


def test_a_module_named_tensorrt_that_is_not_tensorrt() -> None:
    shadow = types.ModuleType("tensorrt")
    shadow.__path__ = ["/somewhere/tensorrt"]  # type: ignore[attr-defined]
    problem = _probe.probe_tensorrt(_importer(module=shadow)).problem
    assert "is not NVIDIA TensorRT" in problem and "/somewhere/tensorrt" in problem


@pytest.mark.parametrize(
    ("cc", "version", "usable", "words"),
    [
        ((6, 1), "10.9.0", False, "compute capability 6.1 is not supported by TensorRT 10.9.0 (it needs 7.5"),
        ((7, 0), "10.9.0", False, "compute capability 7.0 is not supported"),
        ((7, 0), "10.0.1", True, ""),
        ((7, 5), "11.1.0", True, ""),
        ((12, 0), "10.3.0", False, "Blackwell or newer) is not supported by TensorRT 10.3.0; install TensorRT 10.8"),
        ((12, 0), "10.8.0", True, ""),
    ],
)
def test_architecture_support(cc: tuple[int, int], version: str, usable: bool, words: str) -> None:
    gpu = GpuInfo(0, "stand-in GPU", cc, 8 * 2**30)
    env = environment(trt=FakeTensorRTForTests(version), driver=FakeDriverForTests((gpu,)))
    (dev,) = _devices(env)
    assert dev.usable is usable and words in dev.reason


def test_cuda_python_missing_or_newer_than_the_driver() -> None:
    missing = _probe.probe_cuda_python((12, 4), _importer(ModuleNotFoundError("No module named 'cuda'", name="cuda")))
    assert missing.problem.startswith("cuda-python is not importable") and "mindinfer-tensorrt[cu12]" in missing.problem
    newer = _probe.probe_cuda_python((12, 4), _importer(module=types.SimpleNamespace(__version__="13.0.1")))
    assert "built for CUDA 13 but the driver supports CUDA 12.4" in newer.problem
    assert (
        _probe.probe_cuda_python((13, 0), _importer(module=types.SimpleNamespace(__version__="13.0.1"))).problem == ""
    )


def test_all_problems_are_named_first_one_first() -> None:
    err = ModuleNotFoundError("No module named 'tensorrt'", name="tensorrt")
    env = Environment(
        environment().driver,
        _probe.CudaPythonProbe("", "cuda-python is not importable (x)"),
        _probe.probe_tensorrt(_importer(err)),
    )
    (dev,) = _devices(env)
    assert dev.reason.startswith("cuda-python is not importable (x); also: tensorrt is not installed")


def test_the_probe_runs_once_per_backend() -> None:
    calls = []

    def probe() -> Environment:
        calls.append(1)
        return environment()

    backend = TensorRTBackend(probe=probe)
    backend.devices()
    backend.devices()
    assert len(calls) == 1


def test_nvml_absent_gives_no_driver_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(_probe.ctypes, "CDLL", no_library)  # as on a machine without the driver
    assert _probe.nvml_driver_version() == ""
