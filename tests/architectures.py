"""Test helper: small random architectures drawn from every layer, in PyTorch notation."""

from __future__ import annotations

import numpy as np

ACTS = ["ReLU()", "LeakyReLU(0.25)", "Identity()", "Hardtanh()", "ReLU6()", "Abs()"]


def random_architecture(rng):
    """1-d or 2-d: random convolutions, activations, poolings and residual blocks, then Flatten and Linear."""
    dims = int(rng.integers(1, 3))
    channels = int(rng.integers(1, 3))
    spatial = [int(rng.integers(3, 7)) for _ in range(dims)]
    shape = (channels, *spatial)
    nd = f"{dims}d"
    layers = []
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.choice(["conv", "act", "max", "avg", "res"])
        if choice == "conv":
            out, k = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2))
            if all((n + 2 * pad - k) // stride + 1 >= 1 for n in spatial):
                layers.append(f"Conv{nd}({channels}, {out}, {k}, stride={stride}, padding={pad}, "
                              f"bias={bool(rng.integers(0, 2))})")
                spatial = [(n + 2 * pad - k) // stride + 1 for n in spatial]
                channels = out
        elif choice == "act":
            layers.append(str(rng.choice(ACTS)))
        elif choice in ("max", "avg") and min(spatial) >= 2:
            layers.append(f"{'MaxPool' if choice == 'max' else 'AvgPool'}{nd}(2)")
            spatial = [n // 2 for n in spatial]
        elif choice == "res":
            layers.append(f"Residual(Conv{nd}({channels}, {channels}, 3, padding=1), {rng.choice(ACTS)})")
    flat = channels * int(np.prod(spatial))
    layers += ["Flatten()", f"Linear({flat}, {int(rng.integers(1, 3))})"]
    return f"Sequential({', '.join(layers)})", shape
