"""TensorRT calls: ONNX -> network -> serialized engine, and plan -> engine.

Written against TensorRT 10.x/11.x's Python API and NVIDIA's own sample
(``samples/python/introductory_parser_samples/onnx_resnet50.py``): ``create_network``, ``OnnxParser``,
``set_memory_pool_limit``, optimization profiles, ``build_serialized_network``,
``Runtime.deserialize_cuda_engine``. Nothing deprecated or removed: no implicit batch, no
``build_engine``, no ``max_workspace_size``, no precision builder flags (precision is in the graph,
see :mod:`._prepare`). **Not yet run with TensorRT**: no machine of this project has it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from mindinfer.errors import BackendUnavailableError, MindInferError, UnsupportedOpError

from ._probe import parse_version
from ._profiles import Profile

__all__ = ["BuildSettings", "Log", "build_plan", "deserialize", "make_logger"]

PLUGIN = "tensorrt"


@dataclass
class Log:
    """What TensorRT's logger said (warnings and errors), for error messages."""

    lines: list[str] = field(default_factory=list)

    def tail(self, n: int = 5) -> str:
        return " | ".join(self.lines[-n:]) or "TensorRT logged nothing"


def make_logger(trt: ModuleType, log: Log) -> Any:
    """A ``trt.ILogger`` that keeps warnings and errors in ``log``."""

    class _Logger(trt.ILogger):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity <= trt.ILogger.Severity.WARNING:
                log.lines.append(f"[{getattr(severity, 'name', severity)}] {msg}")

    return _Logger()


@dataclass(frozen=True)
class BuildSettings:
    workspace: int | None
    builder_optimization_level: int
    profiles: Sequence[Profile]


def _create(factory: Callable[[Any], Any], logger: Any, log: Log, what: str) -> Any:
    try:
        return factory(logger)
    except TypeError as exc:
        # pybind11's "factory function returned nullptr": TensorRT could not initialize CUDA.
        raise BackendUnavailableError(
            f"plugin '{PLUGIN}': TensorRT could not create its {what} ({exc}); TensorRT said: {log.tail()}"
        ) from exc


def build_plan(
    trt: ModuleType,
    onnx_bytes: bytes,
    settings: BuildSettings,
    timing_cache: bytes | None,
    where: Callable[[str], tuple[str, str]],
) -> tuple[bytes, bytes | None]:
    """``(serialized engine, serialized timing cache)``; parser refusals raise ``UnsupportedOpError``.

    ``where(onnx_node_name)`` gives ``(primitive, IR node)`` for messages.
    """
    log = Log()
    logger = make_logger(trt, log)
    builder = _create(trt.Builder, logger, log, "builder")
    # Strongly typed on 10.x too, so that the precision set in the graph is what runs on both majors;
    # on 11.x networks are always strongly typed and the flag is deprecated, hence 0 there.
    major = parse_version(trt.__version__)[0]
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if major == 10 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        raise _parse_error(parser, where, log)
    config = builder.create_builder_config()
    if settings.workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace))
    config.builder_optimization_level = int(settings.builder_optimization_level)
    if settings.profiles:
        profile = builder.create_optimization_profile()
        for p in settings.profiles:
            profile.set_shape(p.name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
    cache = config.create_timing_cache(timing_cache or b"")
    # ignore_mismatch=False: TensorRT refuses (returns False) a cache made on another device rather
    # than use its timings here; the build then times its tactics afresh, into a new cache.
    if not config.set_timing_cache(cache, False):
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise MindInferError(f"plugin '{PLUGIN}': TensorRT could not build an engine; TensorRT said: {log.tail()}")
    return bytes(plan), bytes(cache.serialize())


def _parse_error(parser: Any, where: Callable[[str], tuple[str, str]], log: Log) -> MindInferError:
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    for err in errors:
        node_name = str(err.node_name()) if hasattr(err, "node_name") else ""
        code = str(getattr(err.code(), "name", err.code()))
        if code.startswith("UNSUPPORTED_NODE") and node_name:
            primitive, ir_node = where(node_name)
            op = err.node_operator() if hasattr(err, "node_operator") else "?"
            return UnsupportedOpError(
                primitive or f"<onnx {op}>", ir_node, PLUGIN, f"TensorRT's ONNX parser refused {op}: {err.desc()}"
            )
    text = "; ".join(f"{getattr(e.code(), 'name', e.code())}: {e.desc()}" for e in errors) or log.tail()
    return MindInferError(f"plugin '{PLUGIN}': TensorRT's ONNX parser failed: {text}")


def deserialize(trt: ModuleType, plan: bytes) -> tuple[Any, Any, Log]:
    """``(runtime, engine or None, log)``: None when TensorRT cannot read the plan (then it is rebuilt)."""
    log = Log()
    logger = make_logger(trt, log)
    runtime = _create(trt.Runtime, logger, log, "runtime")
    engine = runtime.deserialize_cuda_engine(plan)
    # The runtime and logger must outlive the engine: callers keep all three.
    return (runtime, logger), engine, log
