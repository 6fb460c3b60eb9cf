"""Seeds and initial noise as A1111 draws them (reference 3.8), on the CPU so a seed gives the same picture
on every device (A1111's "RNG: CPU")."""
from __future__ import annotations

import random
from typing import Sequence, Tuple

import torch

RNG_LABEL = "CPU"


def fixed_seed(seed) -> int:
    """-1, "" or anything that is not a number: a random seed, as A1111's `get_fixed_seed`."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        seed = -1
    return random.randrange(4294967294) if seed == -1 else seed


def randn(seed: int, shape: Tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)))


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's spherical interpolation, including its fallback for nearly parallel vectors."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def image_noise(shape: Tuple[int, int, int], seed: int, subseed: int, subseed_strength: float,
                seed_resize_from_w: int, seed_resize_from_h: int) -> torch.Tensor:
    """The first noise of one picture: the seed's noise, slerped toward the variation seed's, and, with "resize seed
    from", drawn at that size and centred in fresh noise of the full size."""
    resized = seed_resize_from_h > 0 and seed_resize_from_w > 0
    noise_shape = (shape[0], seed_resize_from_h // 8, seed_resize_from_w // 8) if resized else shape
    noise = randn(seed, noise_shape)
    if subseed_strength != 0:
        noise = slerp(subseed_strength, noise, randn(subseed, noise_shape))
    if noise_shape != shape:
        x = randn(seed, shape)
        dx = (shape[2] - noise_shape[2]) // 2
        dy = (shape[1] - noise_shape[1]) // 2
        w = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
        h = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
        tx, ty = max(dx, 0), max(dy, 0)
        dx, dy = max(-dx, 0), max(-dy, 0)
        x[:, ty:ty + h, tx:tx + w] = noise[:, dy:dy + h, dx:dx + w]
        noise = x
    return noise


def batch_noise(shape: Tuple[int, int, int], seeds: Sequence[int], subseeds: Sequence[int], subseed_strength: float,
                seed_resize_from_w: int, seed_resize_from_h: int) -> torch.Tensor:
    return torch.stack([image_noise(shape, s, sub, subseed_strength, seed_resize_from_w, seed_resize_from_h)
                        for s, sub in zip(seeds, subseeds)])
