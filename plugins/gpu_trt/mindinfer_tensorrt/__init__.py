"""mindinfer-tensorrt: MindIR on NVIDIA GPUs through cached TensorRT engines.

sess = mindinfer.Session("net.mindir", target="gpu", options={"precision": "fp16"})

TensorRT and cuda-python are imported only when a GPU is used; without them the plugin still loads
and ``mindinfer devices`` says what is missing. Not yet run on a GPU with TensorRT.
"""

from __future__ import annotations

__all__: list[str] = []
