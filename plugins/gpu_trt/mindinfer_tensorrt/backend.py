"""The tensorrt backend: MindIR -> ONNX (the onnx plugin's converter) -> TensorRT engine, cached.

Registering the backend and listing devices import neither onnx nor tensorrt nor cuda-python.
Compile: convert in memory, prepare the graph for TensorRT (:mod:`._prepare`), derive optimization
profiles (:mod:`._profiles`), then load the engine from the cache (:mod:`._cache`) or build it
(:mod:`._engine`). ``devices()`` probes the driver, cuda-python and TensorRT for real
(:mod:`._probe`); nothing here imports ``tensorrt`` or ``cuda`` at module load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mindinfer.backend import BackendBase, Capabilities, Device, Option
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer.ir import CONTROL_FLOW_OPS, Model
from mindinfer_onnx.convert import DEFAULT_OPSET, EXTERNAL_DATA_THRESHOLD, SUPPORTED, convert, weight_bytes

from . import _probe
from ._cache import EngineCache, atomic_write, engine_key
from ._cuda import CudaAPI, CudaRuntime
from ._engine import BuildSettings, build_plan, deserialize
from ._profiles import check_shapes_option, derive_profiles
from .executable import TensorRTExecutable

__all__ = ["OPTIONS", "Environment", "TensorRTBackend", "probe_environment"]

PLUGIN = "tensorrt"
log = logging.getLogger("mindinfer.tensorrt")

OPTIONS = (
    Option(
        "precision",
        str,
        "fp32",
        "fp32, or fp16/bf16 set in the ONNX graph (weights and compute; inputs and outputs keep their dtypes)",
        choices=("fp32", "fp16", "bf16"),
    ),
    Option(
        "workspace",
        int,
        None,
        "bytes of GPU scratch memory TensorRT's builder may use (WORKSPACE pool); default: TensorRT's own",
        minimum=1 << 20,
    ),
    Option(
        "shapes",
        dict,
        None,
        "optimization profile per dynamic input: {name: {'min': [...], 'opt': [...], 'max': [...]}}; "
        "default for a dynamic batch dimension: 1/1/32",
        check=check_shapes_option,
    ),
    Option(
        "builder_optimization_level",
        int,
        3,
        "TensorRT's builder optimization level: higher builds slower and may run faster",
        choices=(0, 1, 2, 3, 4, 5),
    ),
    Option("outputs_on_gpu", bool, False, "return outputs as GPU arrays (__cuda_array_interface__) instead of numpy"),
    Option("cache", bool, True, "keep built engines in the engine cache (see `mindinfer cache`)"),
)


@dataclass(frozen=True)
class Environment:
    """Everything ``devices()`` and ``compile`` need to know about this machine, probed once."""

    driver: _probe.DriverProbe
    cuda: _probe.CudaPythonProbe
    trt: _probe.TensorRTProbe = field(default_factory=_probe.TensorRTProbe)


def probe_environment() -> Environment:
    driver = _probe.probe_driver()
    return Environment(driver, _probe.probe_cuda_python(driver.cuda_version), _probe.probe_tensorrt())


class TensorRTBackend(BackendBase):
    """NVIDIA GPUs through TensorRT engines built from the converted ONNX graph."""

    name = PLUGIN
    device_kinds = ("gpu",)
    priority = 100
    # What the converter lowers; the ONNX operators TensorRT's parser refuses are caught per node at
    # compile time (see _prepare), naming the primitive, so a fallback list still works.
    capabilities = Capabilities(
        primitives=frozenset(SUPPORTED - CONTROL_FLOW_OPS),
        dtypes=frozenset({"float32", "float16", "int32", "int64", "bool", "uint8"}),
        dynamic_shapes=True,
        control_flow=True,
    )
    options = OPTIONS

    def __init__(
        self,
        probe: Callable[[], Environment] = probe_environment,
        cuda_factory: Callable[[int], CudaAPI] = CudaRuntime,
        cache: EngineCache | None = None,
    ) -> None:
        self._probe = probe
        self._cuda_factory = cuda_factory
        self._cache = cache
        self._env: Environment | None = None
        self._lock = threading.Lock()

    @property
    def environment(self) -> Environment:
        with self._lock:
            if self._env is None:
                self._env = self._probe()
            return self._env

    def devices(self) -> list[Device]:
        env = self.environment
        later = [p for p in (env.cuda.problem, env.trt.problem) if p]
        common: dict[str, Any] = {
            "driver": env.driver.driver_version or "unknown",
            "driver_cuda": ".".join(map(str, env.driver.cuda_version)) if env.driver.cuda_version else "none",
            "cuda-python": env.cuda.version or "not available",
            "tensorrt": env.trt.version or "not available",
            "note": _probe.NOT_VERIFIED,
        }
        if env.driver.problem:
            return [Device("gpu", 0, "", False, _join(env.driver.problem, later), details=common)]
        found = []
        for gpu in env.driver.gpus:
            problems = list(later)
            if not env.trt.problem:
                problems += [p for p in (_probe.arch_problem(gpu.compute_capability, env.trt.version),) if p]
            details = {
                **common,
                "compute_capability": ".".join(map(str, gpu.compute_capability)),
                "memory": f"{gpu.total_memory / 2**30:.1f} GiB",
            }
            reason = _join(problems[0], problems[1:]) if problems else ""
            found.append(Device("gpu", gpu.index, gpu.name, not problems, reason, chip=gpu.sm, details=details))
        return found

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> TensorRTExecutable:
        env = self.environment
        trt = env.trt.module
        assert trt is not None  # BackendBase.compile refuses an unusable device before _compile
        gpu = env.driver.gpus[device.index]
        major = _probe.parse_version(env.trt.version)[0]
        onnx_bytes = onnx_for_tensorrt(model, options["precision"], major)
        profiles = derive_profiles(model.inputs, options["shapes"])
        key_options = {
            "precision": options["precision"],
            "workspace": options["workspace"],
            "builder_optimization_level": options["builder_optimization_level"],
            "profiles": [{"name": p.name, **p.to_json()} for p in profiles],
        }
        key, fields = engine_key(onnx_bytes, env.trt.version, gpu.name, gpu.compute_capability, key_options)
        fields = {**fields, "source": model.source or "?"}  # for `mindinfer cache`; not part of the key
        settings = BuildSettings(options["workspace"], options["builder_optimization_level"], profiles)
        cache = self._cache or EngineCache()

        def build(timing: bytes | None) -> tuple[bytes, bytes | None]:
            from ._prepare import origin

            return build_plan(trt, onnx_bytes, settings, timing, lambda name: origin(name, model))

        # TensorRT builds and deserializes on the calling thread's current CUDA device: select it first.
        cuda = self._cuda_factory(device.index)
        keep, engine, source = load_or_build(trt, cache if options["cache"] else None, key, fields, build, gpu)
        info = {"engine_key": key, "engine_source": source, "profiles": [str(p) for p in profiles]}
        return TensorRTExecutable(
            trt, engine, keep, cuda, model.inputs, model.outputs, profiles, options["outputs_on_gpu"], info
        )


def _join(first: str, others: list[str]) -> str:
    return first + ("; also: " + "; ".join(others) if others else "")


def onnx_for_tensorrt(model: Model, precision: str, trt_major: int | None) -> bytes:
    """The model as ONNX bytes ready for TensorRT's parser (converted in memory, checked, cast)."""
    from ._prepare import prepare  # imports onnx: only when compiling (registering must not)

    try:
        proto = convert(model, DEFAULT_OPSET)
    except UnsupportedOpError as exc:
        raise UnsupportedOpError(
            exc.primitive, exc.node, PLUGIN, f"the MindIR->ONNX converter refused it ({exc})"
        ) from exc
    if weight_bytes(proto) > EXTERNAL_DATA_THRESHOLD:
        raise MindInferError(
            f"plugin '{PLUGIN}': the model's weights pass protobuf's 2 GB limit; this plugin does not yet hand "
            "TensorRT ONNX external data (use target 'cpu@onnx' for now)"
        )
    return bytes(prepare(proto, model, precision, trt_major).SerializeToString())


def load_or_build(
    trt: Any,
    cache: EngineCache | None,
    key: str,
    fields: dict[str, Any],
    build: Callable[[bytes | None], tuple[bytes, bytes | None]],
    gpu: _probe.GpuInfo,
) -> tuple[Any, Any, str]:
    """``(keep-alive objects, engine, "cache" | "built")``; a cached plan TensorRT cannot read is rebuilt."""
    if cache is not None:
        plan = cache.load(key)
        if plan is not None:
            keep, engine, tlog = deserialize(trt, plan)
            if engine is not None:
                return keep, engine, "cache"
            log.warning("tensorrt: cached engine %s could not be deserialized (%s); rebuilding", key, tlog.tail())
            cache.remove(key)
        with cache.building(key):
            plan = cache.load(key)  # another process may have built it while this one waited
            if plan is not None:
                keep, engine, _ = deserialize(trt, plan)
                if engine is not None:
                    return keep, engine, "cache"
            timing_path = cache.timing_cache_path(fields["tensorrt"], gpu.compute_capability, gpu.name)
            timing = timing_path.read_bytes() if timing_path.is_file() else None
            plan, new_timing = build(timing)
            cache.store(key, plan, fields)
            if new_timing:
                atomic_write(timing_path, new_timing)
    else:
        plan, _ = build(None)
    keep, engine, tlog = deserialize(trt, plan)
    if engine is None:
        raise MindInferError(
            f"plugin '{PLUGIN}': TensorRT could not deserialize the engine it just built; TensorRT said: {tlog.tail()}"
        )
    return keep, engine, "built"
