"""The onnx backend: convert to ONNX, then run with onnxruntime on the provider of the device.

Devices are the execution providers that really work here (see :mod:`._providers`): the CPU
provider is ``cpu:0``; CUDA and TensorRT are ``gpu`` devices. A session asked for a GPU provider
that onnxruntime silently swaps for CPU is an error, never a quiet CPU run.

Registering this backend imports neither onnx nor onnxruntime (a Session pinned to another plugin
pays nothing for this one): onnxruntime is imported when devices are asked for or a model is
compiled, and converting never imports onnx (see :mod:`._onnx_pb`).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np
from mindinfer import RunControl
from mindinfer.backend import BackendBase, Capabilities, Device, ExecutableBase, Option, plugin_message
from mindinfer.errors import BackendUnavailableError, InvalidInputError, InvalidOptionError, MindInferError
from mindinfer.ir import CONTROL_FLOW_OPS, ForeignModel, Model

from . import _providers
from ._graph import PLUGIN
from ._opsets import DEFAULT_OPSET
from .convert import EXTERNAL_DATA_THRESHOLD, SUPPORTED, convert, save, weight_bytes

if TYPE_CHECKING:
    import onnxruntime as ort

OPTIONS = (
    Option("threads", int, None, "onnxruntime intra-op threads (default: onnxruntime's choice)", minimum=1),
    Option("opset", int, DEFAULT_OPSET, "ONNX opset of the converted graph (MindIR input only)", minimum=13),
)
_DTYPES = frozenset({"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"})


class OnnxBackend(BackendBase):
    """MindIR -> ONNX (this plugin's converter) -> onnxruntime."""

    name = PLUGIN
    # Above the native cpu plugin (100): in README's quieter-machine table onnxruntime ran every zoo
    # network faster (1.1x to 5x; but in its busy side-by-side run at 2 threads the native plugin won
    # on resnet18 and vit_b_32), so a bare "cpu" target tries this plugin first and moves on to the native one when
    # the converter refuses a model (recorded in Session.placement). Without onnxruntime its device is unusable, so "cpu"
    # is the native plugin. "cpu@cpu" / "cpu@onnx" pin either.
    priority = 150
    capabilities = Capabilities(
        primitives=frozenset(SUPPORTED - CONTROL_FLOW_OPS),
        dtypes=_DTYPES,
        dynamic_shapes=True,
        control_flow=True,
        formats=frozenset({"mindir", "onnx"}),
    )
    options = OPTIONS

    def __init__(self) -> None:
        # gpu only when this onnxruntime was built with a GPU provider (working or not: devices()
        # then says why it does not work, which is what a user asking for gpu needs to read).
        self.device_kinds = ("cpu", "gpu") if _providers.gpu_listed() else ("cpu",)  # type: ignore[misc]

    def devices(self) -> list[Device]:
        missing = _providers.missing_runtime()
        if missing:
            return [Device("cpu", 0, "onnxruntime (not installed)", False, missing)]
        import onnxruntime as ort

        found = []
        statuses = _providers.probe()
        others = {
            s.name: s.reason for s in statuses if s.name not in (_providers.CPU_PROVIDER, *_providers.GPU_PROVIDERS)
        }
        for status in statuses:
            if status.name == _providers.CPU_PROVIDER:
                kind = "cpu"
            elif status.name in _providers.GPU_PROVIDERS:
                kind = "gpu"
            else:
                continue
            details: dict[str, Any] = {"provider": status.name, "onnxruntime": ort.__version__}
            if kind == "cpu" and others:
                details["other_providers"] = others
            found.append(
                Device(kind, 0, f"onnxruntime {status.name}", status.works, status.reason, chip="", details=details)
            )
        return found

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> OnnxExecutable:
        proto = convert(model, int(options["opset"]))
        if weight_bytes(proto) <= EXTERNAL_DATA_THRESHOLD:
            return _open(proto.SerializeToString(), model.source or "the model", device, options)
        if model.encrypted:  # decrypted weights never go to a temporary file: hand them over in memory
            from ._memory import detach_initializers  # imports onnx: only for models past 2 GB

            data, names, values, arrays = detach_initializers(proto)
            exe = _open(data, model.source or "the model", device, options, initializers=(names, values))
            exe.keep_alive = (values, arrays)
            return exe
        # Past protobuf's 2 GB limit the model can only travel as a file with external data.
        tmp = tempfile.TemporaryDirectory(prefix="mindinfer-onnx-")
        try:
            path = save(proto, os.path.join(tmp.name, "model.onnx"), external_data=True)
            return _open(str(path), model.source or "the model", device, options, tmp)
        except BaseException:
            tmp.cleanup()
            raise

    def _compile_foreign(self, model: ForeignModel, device: Device, options: dict[str, Any]) -> OnnxExecutable:
        if options["opset"] != DEFAULT_OPSET:
            raise InvalidOptionError(
                plugin_message(PLUGIN, "option opset applies to MindIR input only, not to an ONNX file")
            )
        return _open(model.path, model.path, device, options)


def _open(
    source: str | bytes,
    where: str,
    device: Device,
    options: dict[str, Any],
    tmp: tempfile.TemporaryDirectory[str] | None = None,
    initializers: tuple[list[str], list[Any]] | None = None,
) -> OnnxExecutable:
    """An InferenceSession on the device's provider: graph optimizations on, threads as asked."""
    sess = _session(source, where, device, options, initializers)
    exe = OnnxExecutable(sess, str(device.details.get("provider", _providers.CPU_PROVIDER)), tmp)
    # What a profiled run needs to open the same model again with onnxruntime's profiler on. The
    # bytes are the ones onnxruntime's InferenceSession keeps anyway (it holds a model given as
    # bytes for its lifetime), so this costs no memory.
    exe.profile_source = (source, where, device, options, initializers)
    return exe


def _session(
    source: str | bytes,
    where: str,
    device: Device,
    options: dict[str, Any],
    initializers: tuple[list[str], list[Any]] | None = None,
    profile_prefix: str | None = None,
) -> ort.InferenceSession:
    import onnxruntime as ort

    provider = str(device.details.get("provider", _providers.CPU_PROVIDER))
    opts = ort.SessionOptions()
    if initializers is not None:
        opts.add_external_initializers(*initializers)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # failures surface as exceptions below; warnings would only be noise
    if options.get("threads"):
        opts.intra_op_num_threads = int(options["threads"])
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    providers: list[Any] = [] if provider == _providers.CPU_PROVIDER else [(provider, {"device_id": device.index})]
    providers.append(_providers.CPU_PROVIDER)  # for the nodes a GPU provider has no kernel for
    try:
        sess = ort.InferenceSession(source, opts, providers=providers)
    except Exception as exc:
        raise MindInferError(plugin_message(PLUGIN, f"onnxruntime could not load {where}: {ort_message(exc)}")) from exc
    if sess.get_providers()[0] != provider:
        raise BackendUnavailableError(
            plugin_message(
                PLUGIN,
                f"onnxruntime did not use {provider} for device {device} "
                f"(it chose {sess.get_providers()[0]}); see `mindinfer devices`",
            )
        )
    return sess


class OnnxExecutable(ExecutableBase):
    """An onnxruntime session with its input and output names bound once."""

    #: InferenceSession.run may be called from several threads at once.
    thread_safe = True
    #: run_profiled reads onnxruntime's own profiler (ONNX node names and op types, after its fusions).
    can_profile = True
    #: A time limit or cancel() sets onnxruntime's RunOptions.terminate.
    cancellable = True

    def __init__(
        self, sess: ort.InferenceSession, provider: str, tmp: tempfile.TemporaryDirectory[str] | None = None
    ) -> None:
        super().__init__(len(sess.get_inputs()), PLUGIN)
        self.session = sess
        self.provider = provider
        self._inputs = [i.name for i in sess.get_inputs()]
        self._outputs = [o.name for o in sess.get_outputs()]
        self._sess_run = sess.run
        self._tmp = tmp  # holds external weight data, when there was any, until close()
        self.keep_alive: Any = None  # in-memory initializers onnxruntime reads (see _memory)
        self.profile_source: tuple[Any, ...] | None = None

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self._run_ort(inputs, None, None)

    def _run_controlled(self, inputs: list[np.ndarray], control: RunControl) -> list[np.ndarray]:
        """A time limit or ``cancel()`` sets onnxruntime's ``RunOptions.terminate`` for this run."""
        import onnxruntime as ort

        ort_options = ort.RunOptions()
        undo = control.on_stop(lambda: setattr(ort_options, "terminate", True))
        try:
            return self._run_ort(inputs, ort_options, control)
        finally:
            undo()

    def _run_ort(
        self, inputs: list[np.ndarray], ort_options: ort.RunOptions | None, control: RunControl | None
    ) -> list[np.ndarray]:
        try:
            return self._sess_run(  # type: ignore[no-any-return]
                self._outputs, dict(zip(self._inputs, inputs)), ort_options
            )
        except Exception as exc:
            if control is not None:
                control.check(f"plugin '{PLUGIN}'")  # terminated by us: say why, not onnxruntime's words
            if type(exc).__name__ in ("InvalidArgument", "InvalidGraph") or isinstance(exc, (ValueError, TypeError)):
                raise InvalidInputError(
                    plugin_message(PLUGIN, f"onnxruntime rejected the inputs: {ort_message(exc)}")
                ) from exc
            raise MindInferError(
                plugin_message(PLUGIN, f"onnxruntime failed while running: {ort_message(exc)}")
            ) from exc

    def _run_profiled(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[str, str, float]]]:
        """One run on a session of the same model with onnxruntime's profiler on.

        onnxruntime writes its profile only when profiling ends, and a session cannot profile
        again after that, so each profiled run opens a session of its own (the times are of the
        run alone; opening costs what compiling did).
        """
        if self.profile_source is None:
            raise MindInferError(f"plugin '{PLUGIN}': this executable cannot be opened again for profiling")
        with tempfile.TemporaryDirectory(prefix="mindinfer-ort-profile-") as folder:
            sess = _session(*self.profile_source, profile_prefix=os.path.join(folder, "profile"))
            try:
                outs = sess.run(self._outputs, dict(zip(self._inputs, inputs)))
            except Exception as exc:
                raise MindInferError(
                    f"plugin '{PLUGIN}': onnxruntime failed while profiling: {ort_message(exc)}"
                ) from exc
            with open(sess.end_profiling(), encoding="utf-8") as fh:
                events = json.load(fh)
        records = [
            (e["name"].removesuffix("_kernel_time"), str(e.get("args", {}).get("op_name", "?")), e["dur"] * 1e-6)
            for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")
        ]
        return list(outs), records

    def _close(self) -> None:
        self.session = None  # type: ignore[assignment]
        self._sess_run = None  # type: ignore[assignment]
        self.keep_alive = None
        if self._tmp is not None:
            self._tmp.cleanup()


def ort_message(exc: BaseException) -> str:
    text = str(exc).strip()
    # "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions..." -> the last part.
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(" : ", 3)[-1]
    return text
