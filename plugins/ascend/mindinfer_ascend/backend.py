"""The ascend backend: MindIR -> ONNX (the onnx plugin's converter) -> ``atc`` -> ``.om`` -> pyACL.

ATC reads ONNX but not MindIR (its MindSpore input is AIR, which only an Ascend machine can export),
so the graph goes through mindinfer's own ONNX converter at an opset ATC accepts, then ATC compiles it
for the device's SoC. Compiled models are cached (:mod:`.cache`). ``.onnx`` files go straight to ATC;
``.om`` files open directly.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mindinfer.backend import BackendBase, Capabilities, Device, ExecutableBase, Option
from mindinfer.errors import BackendUnavailableError, InvalidOptionError, MindInferError, UnsupportedOpError
from mindinfer.ir import CONTROL_FLOW_OPS, ForeignModel, Model, TensorSpec
from mindinfer_onnx._onnx_pb import pb
from mindinfer_onnx.convert import SUPPORTED, convert, save

from . import precision
from ._acl import AclError
from .atc import DEFAULT_TIMEOUT, AtcJob, atc_command, missing_atc_reason, run_atc
from .cache import OmCache, make_key
from .devices import probe
from .model import AclModel

if TYPE_CHECKING:
    import onnx

__all__ = ["DEFAULT_BATCH_SIZES", "OPTIONS", "AscendBackend", "AscendExecutable"]

PLUGIN = "ascend"
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32)
#: ONNX opsets both ATC (CANN 8.0 documents 11-15) and mindinfer's converter (13+) handle.
OPSETS = (13, 14, 15)


def _gears(value: Sequence[Any] | str) -> list[Any]:
    """The gears of option batch_sizes: a list, or ATC's own "1,2,4,8" spelling (handy on the command line)."""
    if isinstance(value, str):
        return [int(b) if b.strip().isdigit() else b for b in value.split(",")]
    return list(value)


def _check_gears(given: Sequence[Any] | str) -> str | None:
    value = _gears(given)
    if not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 2048 for b in value):
        return "every batch size must be an int from 1 to 2048 (ATC's range)"
    if not 2 <= len(set(value)) <= 100:
        return "ATC's --dynamic_batch_size takes 2 to 100 distinct gears"
    return None


OPTIONS = (
    Option(
        "precision",
        str,
        precision.AUTO,
        "ATC --precision_mode; 'auto' keeps fp32 wherever the chip computes it (see `mindinfer devices`)",
        choices=(precision.AUTO, *precision.MODES),
    ),
    Option(
        "batch_sizes",
        (tuple, list, str),
        DEFAULT_BATCH_SIZES,
        "ATC --dynamic_batch_size gears for a model whose batch dimension is -1; runs pad up to the nearest gear",
        check=_check_gears,
    ),
    Option("opset", int, OPSETS[0], "ONNX opset handed to ATC", choices=OPSETS),
    Option("atc_timeout", float, DEFAULT_TIMEOUT, "seconds atc may take to compile", minimum=1),
    Option(
        "cache",
        bool,
        True,
        "reuse compiled .om files (folder: $MINDINFER_ASCEND_CACHE, else $MINDINFER_CACHE_DIR/ascend, "
        "else ~/.cache/mindinfer/ascend)",
    ),
)
_COMPILE_ONLY = ("precision", "batch_sizes", "opset", "atc_timeout")
_DEFAULTS = {o.name: o.default for o in OPTIONS}


def _comparable(value: Any) -> Any:
    """A list and a tuple of the same items compare equal (batch_sizes=[1, 2, ...] is its default)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


#: Primitives the ONNX converter lowers only at opset 16 and later (ScatterND/ScatterElements reductions,
#: GridSample), past what ATC reads, and TensorToTuple, whose shapes come from input values (an .om's
#: shapes are compiled in). The conformance suite's op tier on the simulated device found them.
_NOT_BELOW_OPSET_16 = frozenset(
    {
        "GridSampler2D",
        "ScatterNd",
        "TensorScatterElements",
        "TensorToTuple",
        *(f"{p}{s}" for p in ("TensorScatter", "ScatterNd", "Scatter") for s in ("Add", "Sub", "Mul", "Div")),
    }
)


class AscendBackend(BackendBase):
    """Huawei Ascend NPUs (310, 310P, 910, 910B) through ATC and pyACL."""

    name = PLUGIN
    device_kinds = ("ascend",)
    priority = 100
    capabilities = Capabilities(
        primitives=frozenset(SUPPORTED - CONTROL_FLOW_OPS - _NOT_BELOW_OPSET_16),
        # Ascend's AI Core has no float64; ATC takes fp32/fp16/uint8 image inputs and integer index inputs.
        dtypes=frozenset({"float32", "float16", "int8", "int32", "int64", "uint8", "bool"}),
        # Only a dynamic batch dimension (ATC gears); other dynamic dimensions are refused at compile.
        dynamic_shapes=True,
        control_flow=False,
        formats=frozenset({"mindir", "onnx", "om"}),
    )
    options = OPTIONS

    def __init__(self, cache: OmCache | None = None) -> None:
        self._cache = cache
        self._devices: list[Device] | None = None
        self._probe_lock = threading.Lock()

    def devices(self) -> list[Device]:
        # Probing initializes ACL and opens every device: done once per backend object.
        with self._probe_lock:
            if self._devices is None:
                self._devices = probe()
            return list(self._devices)

    # -- MindIR ------------------------------------------------------------------------------------
    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> AscendExecutable:
        _batched_inputs(model.inputs)  # refuse what ATC cannot compile before converting
        proto = convert(model, int(options["opset"]))
        with tempfile.TemporaryDirectory(prefix="mindinfer-ascend-") as tmp:
            onnx_path = save(proto, Path(tmp) / "model.onnx")
            return self._compile_onnx(
                onnx_path, model.inputs, model.outputs, model.source or "the model", device, options
            )

    def _compile_onnx(
        self,
        onnx_path: Path,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        where: str,
        device: Device,
        options: dict[str, Any],
    ) -> AscendExecutable:
        """ONNX file -> .om (cached) -> loaded; the work shared by MindIR and ``.onnx`` input."""
        batched = _batched_inputs(inputs)
        known = [(s.name, b) for s, b in zip(inputs, batched)]
        gears = tuple(sorted(set(_gears(options["batch_sizes"])))) if any(batched) else ()
        mode = precision.choose(options["precision"], device.chip)
        soc = str(device.details.get("soc_version") or device.chip)
        version = str(device.details.get("cann") or "unknown")  # probe() read it (pyACL's version, the toolkit)
        compile_opts = {"precision_mode": mode, "batch_sizes": gears, "opset": int(options["opset"])}
        key, parts = make_key(_onnx_files(onnx_path, where), version, soc, compile_opts)
        cache = (self._cache or OmCache()) if options["cache"] else None
        om = cache.get(key) if cache else None
        loaded = None
        if cache is not None and om is not None:
            try:
                loaded = AclModel(str(om), device.index, known)
            except AclError as exc:
                if exc.call != "acl.mdl.load_from_file":
                    raise
                cache.evict(key)  # a cached .om that ACL cannot load: rebuild it
        if loaded is None:
            with tempfile.TemporaryDirectory(prefix="mindinfer-atc-") as tmp:
                job = AtcJob(
                    onnx=onnx_path,
                    output=Path(tmp) / "model",
                    soc_version=soc,
                    inputs=tuple((s.name, tuple(s.shape or ())) for s in inputs),
                    precision_mode=mode,
                    batch_sizes=gears,
                )
                om = self._build(job, float(options["atc_timeout"]), where)
                if cache is not None:
                    om = cache.put(key, om, parts)
                loaded = AclModel(str(om), device.index, known)
        info = {"om": str(om), "precision_mode": mode, "gears": list(loaded.gears), "soc_version": soc}
        return AscendExecutable(loaded, [s.dtype for s in outputs], info)

    @staticmethod
    def _build(job: AtcJob, timeout: float, where: str) -> Path:
        command = atc_command()
        if command is None:
            raise BackendUnavailableError(f"plugin '{PLUGIN}': {missing_atc_reason()}")
        return run_atc(job, command, timeout, where)

    # -- .onnx and .om files -----------------------------------------------------------------------
    def _compile_foreign(self, model: ForeignModel, device: Device, options: dict[str, Any]) -> AscendExecutable:
        if model.format == "onnx":
            if options["opset"] != OPSETS[0]:
                raise InvalidOptionError(
                    f"plugin '{PLUGIN}': option opset applies to MindIR input, not to an ONNX file"
                )
            return self._compile_onnx(Path(model.path), model.inputs, model.outputs, model.path, device, options)
        given = [name for name in _COMPILE_ONLY if _comparable(options[name]) != _comparable(_DEFAULTS[name])]
        if given:
            raise InvalidOptionError(
                f"plugin '{PLUGIN}': option(s) {', '.join(given)} apply when compiling MindIR or ONNX; {model.path} "
                "is an already compiled .om (recompile it with atc to change them)"
            )
        loaded = AclModel(model.path, device.index)
        info = {"om": model.path, "gears": list(loaded.gears), "soc_version": device.details.get("soc_version")}
        return AscendExecutable(loaded, [s.dtype for s in model.outputs], info)


def _onnx_files(onnx_path: Path, where: str) -> list[tuple[str, Path]]:
    """The ``.onnx`` and every file its tensors' external data names (the ``location`` of each, read
    next to the ``.onnx`` as ONNX does), as ``(name, path)`` pairs for the cache key."""
    # onnx's own message classes without `import onnx` (a second of import time; see mindinfer_onnx._onnx_pb)
    proto = pb().ModelProto.FromString(onnx_path.read_bytes())
    locations = sorted({loc for t in _tensors(proto.graph) for loc in _external_location(t)})
    files = [(onnx_path.name, onnx_path)]
    for location in locations:
        path = onnx_path.parent / location
        if not path.is_file():
            raise MindInferError(
                f"plugin '{PLUGIN}': {where} keeps weights in {location}, which is not a file next to it ({path})"
            )
        files.append((location, path))
    return files


def _external_location(tensor: onnx.TensorProto) -> list[str]:
    if tensor.data_location != pb().TensorProto.EXTERNAL:
        return []
    return [e.value for e in tensor.external_data if e.key == "location"]


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of ``graph`` and its subgraphs: initializers (sparse ones too) and attribute values."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
            for sparse in attr.sparse_tensors:
                yield from (sparse.values, sparse.indices)
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _batched_inputs(specs: Sequence[TensorSpec]) -> list[bool]:
    """Which inputs have a dynamic batch dimension; any other dynamic dimension is refused."""
    batched = []
    for spec in specs:
        if spec.shape is None:
            raise UnsupportedOpError(
                "<dynamic shape>", spec.name, PLUGIN, f"input {spec} has an unknown rank; export with a fixed shape"
            )
        if any(d < 0 for d in spec.shape[1:]):
            raise UnsupportedOpError(
                "<dynamic shape>",
                spec.name,
                PLUGIN,
                f"input {spec} is dynamic beyond its first dimension; ATC compiles only a dynamic batch "
                "(gears, option batch_sizes): export the other dimensions fixed",
            )
        batched.append(bool(spec.shape) and spec.shape[0] < 0)
    return batched


class AscendExecutable(ExecutableBase):
    """A loaded ``.om``; runs from any thread (each run makes the device context current in its thread)."""

    #: AclModel serializes runs itself and sets the context in every calling thread.
    thread_safe = True

    def __init__(self, model: AclModel, out_dtypes: Sequence[str], info: dict[str, Any]) -> None:
        super().__init__(len(model.inputs), PLUGIN)
        self.model = model
        self.info = info
        self._out_dtypes = [np.dtype(d) for d in out_dtypes]

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = self.model.run(inputs)
        # An fp16 precision mode may leave fp16 outputs: those come back in the model's declared float
        # dtype. Other dtypes stay as the device produced them (a MindIR's declared dtype can be stale).
        return [
            o.astype(d) if o.dtype != d and o.dtype.kind == d.kind == "f" else o for o, d in zip(outs, self._out_dtypes)
        ]

    def _close(self) -> None:
        self.model.close()


def describe_om(path: str) -> ForeignModel:
    """The inputs and outputs of an ``.om`` file, read by loading it on device 0 with pyACL."""
    devices = probe()
    # A device whose SoC was read works with pyACL (atc, missing or not, is not needed to run an .om).
    found = [d for d in devices if d.chip]
    if not found:
        raise BackendUnavailableError(
            f"{path} is an Ascend offline model; reading it needs pyACL and a device: {devices[0].reason}"
        )
    model = AclModel(path, found[0].index)
    try:
        inputs = [TensorSpec(t.name, (-1, *t.dims[1:]) if t.batched else t.dims, str(t.dtype)) for t in model.inputs]
        outputs = [TensorSpec(t.name, t.dims, str(t.dtype)) for t in model.outputs]
        gears = list(model.gears)
    finally:
        model.close()
    return ForeignModel(path, "om", inputs, outputs, {"gears": gears})
