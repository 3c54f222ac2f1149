"""Sliding windows over the spatial axes of (M, C, *spatial) arrays, by index arrays only.

Gathering a window is indexing, which every algebra supports unchanged; the
backward maps scatter-add into zeros of the algebra (``np.add.at``), the transpose
of the gather.  Used by the convolutions and the poolings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Shape = tuple[int, ...]


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """PyTorch's floor((size + 2 padding - kernel) / stride) + 1 (may be below 1: no window fits)."""
    return (size + 2 * padding - kernel) // stride + 1


def window_index(spatial: Shape, kernel: Shape, stride: Shape) -> tuple[np.ndarray, ...]:
    """Index arrays I_d, broadcasting to (*out, *kernel): position o*stride + j along axis d."""
    d = len(spatial)
    outs = [(n - k) // s + 1 for n, k, s in zip(spatial, kernel, stride)]
    index = []
    for axis in range(d):
        arr = (np.arange(outs[axis])[:, None] * stride[axis] + np.arange(kernel[axis])[None, :])
        shape = [1] * (2 * d)
        shape[axis], shape[d + axis] = outs[axis], kernel[axis]
        index.append(arr.reshape(shape))
    return tuple(index)


def pad(ops: Any, x: np.ndarray, padding: Shape) -> np.ndarray:
    """x (M, C, *spatial) with ``padding`` zeros of the algebra on both sides of every spatial axis."""
    if not any(padding):
        return x
    shape = x.shape[:2] + tuple(n + 2 * p for n, p in zip(x.shape[2:], padding))
    out = ops.zeros(shape)
    out[(slice(None), slice(None), *(slice(p, p + n) for n, p in zip(x.shape[2:], padding)))] = x
    return out


def unpad(x: np.ndarray, padding: Shape, spatial: Shape) -> np.ndarray:
    return x[(slice(None), slice(None), *(slice(p, p + n) for n, p in zip(spatial, padding)))]


def gather(x: np.ndarray, index: tuple[np.ndarray, ...]) -> np.ndarray:
    """(M, C, *spatial) -> (M, C, *out, *kernel): every window's entries."""
    return x[(slice(None), slice(None), *index)]  # type: ignore[arg-type]


def scatter(ops: Any, shape: Shape, index: tuple[np.ndarray, ...], contributions: np.ndarray) -> np.ndarray:
    """The transpose of :func:`gather`: zeros of ``shape`` plus each contribution at its window entry."""
    out = ops.zeros(shape)
    full = tuple(np.broadcast_arrays(*index))
    np.add.at(out, (slice(None), slice(None), *full), contributions)  # type: ignore[arg-type]
    return out
