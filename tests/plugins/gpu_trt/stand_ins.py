"""Stand-ins for the NVIDIA driver, CUDA and TensorRT, so the plugin's own logic runs without them.

None of these is TensorRT or CUDA, and each says so in its name:

* :class:`FakeDriverForTests` answers the CUDA driver calls the device probe makes;
* :class:`FakeCudaForTests` is "device memory" that is really host memory (so copies can be checked);
* :class:`FakeTensorRTForTests` mimics the parts of the ``tensorrt`` module the plugin calls, with an
  "engine" that is the prepared ONNX graph run by onnxruntime on the CPU. It checks the plugin's
  bookkeeping (names, shapes, addresses, staging, profiles, cache) -- never TensorRT's numbers.
"""

from __future__ import annotations

import ctypes
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from mindinfer_tensorrt import _probe
from mindinfer_tensorrt._probe import DriverError, GpuInfo
from mindinfer_tensorrt.backend import Environment

H200 = GpuInfo(0, "NVIDIA H200 (stand-in)", (9, 0), 141 * 2**30)


class FakeDriverForTests:
    """The CUDA driver calls of the probe, answering from fixed values (or failing with ``init_error``)."""

    def __init__(self, gpus: tuple[GpuInfo, ...] = (H200,), version: int = 12040, init_error: int = 0) -> None:
        self.gpus, self.version, self.init_error = gpus, version, init_error

    def init(self) -> None:
        if self.init_error:
            names = {100: "CUDA_ERROR_NO_DEVICE", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER"}
            raise DriverError("cuInit", self.init_error, names.get(self.init_error, "CUDA_ERROR_UNKNOWN"))

    def driver_version(self) -> int:
        return self.version

    def device_count(self) -> int:
        return len(self.gpus)

    def device_name(self, index: int) -> str:
        return self.gpus[index].name

    def compute_capability(self, index: int) -> tuple[int, int]:
        return self.gpus[index].compute_capability

    def total_memory(self, index: int) -> int:
        return self.gpus[index].total_memory


class FakeCudaForTests:
    """ "Device" and "pinned" memory that are plain host buffers; copies are immediate memmoves."""

    def __init__(self) -> None:
        self.blocks: dict[int, np.ndarray] = {}
        self.freed: list[int] = []
        self.streams: set[int] = set()
        self.copies: list[tuple[str, int]] = []
        self.waits: list[tuple[int, int]] = []
        self._next_stream = 100
        self._lock = threading.Lock()

    def _alloc(self, nbytes: int) -> int:
        block = np.zeros(max(nbytes, 1), np.uint8)
        with self._lock:
            self.blocks[block.ctypes.data] = block
        return int(block.ctypes.data)

    malloc = malloc_host = _alloc

    def _free(self, ptr: int) -> None:
        with self._lock:
            del self.blocks[ptr]  # KeyError on a double free
            self.freed.append(ptr)

    free = free_host = _free

    def stream_create(self) -> int:
        with self._lock:
            self._next_stream += 1
            self.streams.add(self._next_stream)
            return self._next_stream

    def stream_destroy(self, stream: int) -> None:
        self.streams.remove(stream)

    def stream_sync(self, stream: int) -> None:
        assert stream in self.streams

    def copy_async(self, dst: int, src: int, nbytes: int, kind: str, stream: int) -> None:
        assert stream in self.streams
        ctypes.memmove(dst, src, nbytes)
        with self._lock:
            self.copies.append((kind, nbytes))

    def wait_for(self, producer: int, consumer: int) -> None:
        self.waits.append((producer, consumer))

    def set_device(self) -> None:
        pass


class FakeGpuArrayForTests:
    """A host array dressed as a GPU array through ``__cuda_array_interface__`` (version 3)."""

    def __init__(self, array: np.ndarray, stream: int | None = None) -> None:
        self.array, self.stream = array, stream

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        a = self.array
        return {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data, False),
            "version": 3,
            "strides": None if a.flags.c_contiguous else a.strides,
            "stream": self.stream,
        }


# -- TensorRT --------------------------------------------------------------------------------------
_NP = {1: ("FLOAT", np.float32), 10: ("HALF", np.float16), 6: ("INT32", np.int32), 7: ("INT64", np.int64)}
_NP |= {9: ("BOOL", np.bool_), 2: ("UINT8", np.uint8)}
PLAN_HEADER = b"FAKE-TENSORRT-PLAN-FOR-TESTS\n"


class _Enum(SimpleNamespace):
    pass


class _Severity(int):
    @property
    def name(self) -> str:
        return {0: "INTERNAL_ERROR", 1: "ERROR", 2: "WARNING", 3: "INFO", 4: "VERBOSE"}[int(self)]


class FakeTensorRTForTests:
    """The subset of the ``tensorrt`` module the plugin uses; engines run the ONNX with onnxruntime."""

    def __init__(self, version: str = "10.9.0", refuse: frozenset[str] = frozenset()) -> None:
        self.__version__ = version
        self.refuse = refuse  # ONNX op types the "parser" refuses
        self.builds: list[dict[str, Any]] = []
        self.deserialized = 0
        fake = self

        class ILogger:
            Severity = _Enum(INTERNAL_ERROR=_Severity(0), ERROR=_Severity(1), WARNING=_Severity(2), INFO=_Severity(3))

            def __init__(self) -> None:
                pass

        self.ILogger = ILogger
        self.TensorIOMode = _Enum(INPUT="INPUT", OUTPUT="OUTPUT")
        self.NetworkDefinitionCreationFlag = _Enum(STRONGLY_TYPED=0)
        self.MemoryPoolType = _Enum(WORKSPACE="WORKSPACE")
        self.Builder = lambda logger: _Builder(fake, logger)
        self.OnnxParser = lambda network, logger: _Parser(fake, network, logger)
        self.Runtime = lambda logger: _Runtime(fake, logger)


class _Network:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.onnx = b""


class _ParserError:
    def __init__(self, node: onnx.NodeProto) -> None:
        self._node = node

    def code(self) -> Any:
        return _Enum(name="UNSUPPORTED_NODE")

    def desc(self) -> str:
        return f"No importer registered for op: {self._node.op_type} (stand-in parser)"

    def node_name(self) -> str:
        return self._node.name

    def node_operator(self) -> str:
        return self._node.op_type


class _Parser:
    def __init__(self, fake: FakeTensorRTForTests, network: _Network, logger: Any) -> None:
        self.fake, self.network, self.errors = fake, network, []

    def parse(self, data: bytes) -> bool:
        proto = onnx.load_from_string(data)
        self.errors = [_ParserError(n) for n in proto.graph.node if n.op_type in self.fake.refuse]
        self.network.onnx = bytes(data)
        return not self.errors

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> _ParserError:
        return self.errors[i]


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[Any, Any, Any]] = {}

    def set_shape(self, name: str, lo: Any, mid: Any, hi: Any) -> None:
        self.shapes[name] = (tuple(lo), tuple(mid), tuple(hi))


#: Timing-cache bytes the stand-in builder treats as made on another device.
FOREIGN_TIMING = b"timing from another GPU"


class _TimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self) -> bytes:
        return self.data + b"+timing"


class _Config:
    def __init__(self) -> None:
        self.pools: dict[str, int] = {}
        self.profiles: list[_Profile] = []
        self.builder_optimization_level = 3
        self.timing: _TimingCache | None = None

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: _Profile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> _TimingCache:
        return _TimingCache(bytes(data))

    def set_timing_cache(self, cache: _TimingCache, ignore_mismatch: bool) -> bool:
        # As TensorRT: a cache made on another device is refused (False) unless ignore_mismatch.
        if cache.data.startswith(FOREIGN_TIMING) and not ignore_mismatch:
            return False
        self.timing = cache
        return True


class _Builder:
    def __init__(self, fake: FakeTensorRTForTests, logger: Any) -> None:
        self.fake = fake

    def create_network(self, flags: int = 0) -> _Network:
        return _Network(flags)

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes:
        self.fake.builds.append(
            {
                "flags": network.flags,
                "pools": dict(config.pools),
                "level": config.builder_optimization_level,
                "profiles": [p.shapes for p in config.profiles],
                "timing": config.timing.data if config.timing else None,
            }
        )
        return PLAN_HEADER + network.onnx


class _Runtime:
    def __init__(self, fake: FakeTensorRTForTests, logger: Any) -> None:
        self.fake = fake

    def deserialize_cuda_engine(self, plan: bytes) -> _Engine | None:
        # Like TensorRT: a plan it cannot read gives None, not an exception.
        if not bytes(plan).startswith(PLAN_HEADER):
            return None
        self.fake.deserialized += 1
        return _Engine(bytes(plan)[len(PLAN_HEADER) :])


class _Engine:
    def __init__(self, onnx_bytes: bytes) -> None:
        proto = onnx.load_from_string(onnx_bytes)
        self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        inits = {t.name for t in proto.graph.initializer}
        self.io = [(v.name, "INPUT", v) for v in proto.graph.input if v.name not in inits]
        self.io += [(v.name, "OUTPUT", v) for v in proto.graph.output]
        self.types = {name: _NP[v.type.tensor_type.elem_type] for name, _, v in self.io}
        self.contexts = 0

    @property
    def num_io_tensors(self) -> int:
        return len(self.io)

    def get_tensor_name(self, i: int) -> str:
        return self.io[i][0]

    def get_tensor_mode(self, name: str) -> str:
        return next(mode for n, mode, _ in self.io if n == name)

    def get_tensor_dtype(self, name: str) -> Any:
        return _Enum(name=self.types[name][0])

    def create_execution_context(self) -> _Context:
        self.contexts += 1
        return _Context(self)


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.results: dict[str, np.ndarray] = {}
        self.shape_calls = 0

    def set_input_shape(self, name: str, shape: Any) -> bool:
        self.shape_calls += 1
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = int(ptr)
        return True

    def _read(self, name: str) -> np.ndarray:
        dtype = np.dtype(self.engine.types[name][1])
        shape = self.shapes[name]
        n = int(np.prod(shape, dtype=np.int64))
        buf = (ctypes.c_ubyte * max(n * dtype.itemsize, 1)).from_address(self.addresses[name])
        return np.frombuffer(buf, dtype, count=n).reshape(shape).copy()

    def infer_shapes(self) -> list[str]:
        # The stand-in runs the graph here, on inputs already "copied" (its copies are immediate).
        feeds = {n: self._read(n) for n, mode, _ in self.engine.io if mode == "INPUT"}
        names = [n for n, mode, _ in self.engine.io if mode == "OUTPUT"]
        self.results = dict(zip(names, self.engine.session.run(names, feeds)))
        return []

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.results[name].shape) if name in self.results else self.shapes[name]

    def execute_async_v3(self, stream_handle: int) -> bool:
        for name, value in self.results.items():
            data = np.ascontiguousarray(value)
            ctypes.memmove(self.addresses[name], data.ctypes.data, data.nbytes)
        return True


def environment(
    trt: FakeTensorRTForTests | None = None,
    driver: FakeDriverForTests | None = None,
    cuda_problem: str = "",
) -> Environment:
    """An :class:`Environment` probed through the stand-ins (the real probe functions, fake loaders)."""
    driver_probe = _probe.probe_driver(lambda: driver or FakeDriverForTests(), nvml=lambda: "550.54.15 (stand-in)")
    trt_probe = _probe.probe_tensorrt(lambda name: trt or FakeTensorRTForTests())  # type: ignore[arg-type,return-value]
    return Environment(driver_probe, _probe.CudaPythonProbe("12.9.0", cuda_problem), trt_probe)
