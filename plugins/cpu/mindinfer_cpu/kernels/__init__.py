"""The CPU kernels: importing this package fills :data:`mindinfer_cpu.registry.KERNELS`."""

from . import (  # noqa: F401
    activation,
    conv,
    conv_nhwc,
    elementwise,
    grid_sample,
    index,
    layout_nhwc,
    matmul,
    norm,
    pool,
    recurrent,
    reduce,
    remainder,
    resize,
    scalar,
    scatter,
    shape,
)
