"""Seeds and noise as A1111 draws them (reference 3.8, A1111's `rng.py`): each picture of a batch has its own
generator, seeded with its seed, that makes its initial noise and then every later draw of the sampler (ancestral
steps, s_churn), so picture k of a batch equals seed + k made alone.

The noise source is A1111's "Random number generator source": GPU (the model's device; the same numbers as CPU on
a machine without one), CPU (the same picture on every device), or NV (CUDA's numbers, drawn on the CPU)."""
from __future__ import annotations

import random
from typing import List, Sequence, Tuple, Union

import torch

from .philox import PhiloxGenerator

RNG_SOURCES = ("GPU", "CPU", "NV")
Generator = Union[torch.Generator, PhiloxGenerator]


def fixed_seed(seed) -> int:
    """-1, "" or anything that is not a number: a random seed, as A1111's `get_fixed_seed`."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        seed = -1
    return random.randrange(4294967294) if seed == -1 else seed


def rng_device(source: str, device: torch.device) -> torch.device:
    """Where the source draws: the model's device for GPU (the CPU for Apple's MPS, as A1111), else the CPU."""
    device = torch.device(device)
    return device if source == "GPU" and device.type != "mps" else torch.device("cpu")


def create_generator(seed: int, source: str = "CPU", device: torch.device = torch.device("cpu")) -> Generator:
    if source == "NV":
        return PhiloxGenerator(seed)
    return torch.Generator(rng_device(source, device)).manual_seed(int(seed))


def draw(shape: Tuple[int, ...], generator: Generator) -> torch.Tensor:
    """The generator's next normal tensor, on the generator's device (the CPU for NV)."""
    if isinstance(generator, PhiloxGenerator):
        return torch.from_numpy(generator.randn(shape))
    return torch.randn(shape, generator=generator, device=generator.device)


def randn(seed: int, shape: Tuple[int, ...], source: str = "CPU",
          device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """A fresh generator's first draw."""
    return draw(shape, create_generator(seed, source, device))


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


class ImageRNG:
    """A1111's `rng.ImageRNG`: `next()` gives the batch's initial noise first, then each picture's next draw. With
    an eta noise seed delta (ENSD) the later draws come from generators seeded with seed + delta."""

    def __init__(self, shape: Tuple[int, int, int], seeds: Sequence[int], subseeds: Sequence[int],
                 subseed_strength: float = 0.0, seed_resize_from: Tuple[int, int] = (-1, -1), source: str = "CPU",
                 device: torch.device = torch.device("cpu"), ensd: int = 0):
        self.shape, self.seeds, self.subseeds = tuple(shape), list(seeds), list(subseeds)
        self.subseed_strength, self.seed_resize_from = subseed_strength, seed_resize_from
        self.source, self.device, self.ensd = source, torch.device(device), ensd
        self.generators: List[Generator] = [create_generator(s, source, device) for s in self.seeds]
        self.is_first = True

    def first(self) -> torch.Tensor:
        noise = torch.stack([self.image_noise(seed, generator, subseed)
                             for seed, generator, subseed in zip(self.seeds, self.generators, self.subseeds)])
        if self.ensd:
            self.generators = [create_generator(s + self.ensd, self.source, self.device) for s in self.seeds]
        return noise.to(self.device)

    def image_noise(self, seed: int, generator: Generator, subseed: int) -> torch.Tensor:
        """The first noise of one picture, from its generator: the seed's noise, slerped toward the variation
        seed's, and, with "resize seed from", drawn at that size and centred in fresh noise of the full size."""
        shape, (w, h) = self.shape, self.seed_resize_from
        noise_shape = (shape[0], h // 8, w // 8) if w > 0 and h > 0 else shape
        noise = randn(seed, noise_shape, self.source, self.device) if noise_shape != shape else draw(shape, generator)
        if self.subseed_strength != 0:
            noise = slerp(self.subseed_strength, noise, randn(subseed, noise_shape, self.source, self.device))
        if noise_shape != shape:
            x = draw(shape, generator)
            dx = (shape[2] - noise_shape[2]) // 2
            dy = (shape[1] - noise_shape[1]) // 2
            w = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
            h = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
            tx, ty = max(dx, 0), max(dy, 0)
            dx, dy = max(-dx, 0), max(-dy, 0)
            x[:, ty:ty + h, tx:tx + w] = noise[:, dy:dy + h, dx:dx + w]
            noise = x
        return noise

    def next(self) -> torch.Tensor:
        if self.is_first:
            self.is_first = False
            return self.first()
        return torch.stack([draw(self.shape, g) for g in self.generators]).to(self.device)
