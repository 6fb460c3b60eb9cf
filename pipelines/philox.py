"""NVIDIA's Philox 4x32 generator and Box-Muller transform on the CPU, so that "RNG: NV" gives the noise
`torch.randn(..., device="cuda")` gives, on any device (A1111's `rng_philox.py`)."""
from typing import Tuple

import numpy as np

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
TWO_POW32_INV = np.array([2.3283064e-10], dtype=np.float32)
TWO_POW32_INV_2PI = np.array([2.3283064e-10 * 6.2831855], dtype=np.float32)


def _as_uint32_pairs(x: np.ndarray) -> np.ndarray:
    """(N,) uint64 -> (2, N) uint32: low words, then high words."""
    return x.view(np.uint32).reshape(-1, 2).transpose(1, 0)


def _round(counter: np.ndarray, key: np.ndarray) -> None:
    v1 = _as_uint32_pairs(counter[0].astype(np.uint64) * PHILOX_M[0])
    v2 = _as_uint32_pairs(counter[2].astype(np.uint64) * PHILOX_M[1])
    counter[0] = v2[1] ^ counter[1] ^ key[0]
    counter[1] = v2[0]
    counter[2] = v1[1] ^ counter[3] ^ key[1]
    counter[3] = v1[0]


def philox4_32(counter: np.ndarray, key: np.ndarray, rounds: int = 10) -> np.ndarray:
    for _ in range(rounds - 1):
        _round(counter, key)
        key[0] = key[0] + PHILOX_W[0]
        key[1] = key[1] + PHILOX_W[1]
    _round(counter, key)
    return counter


def box_muller(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The first of the two normal numbers Box-Muller makes from two uniform words."""
    u = x * TWO_POW32_INV + TWO_POW32_INV / 2
    v = y * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


class PhiloxGenerator:
    """Each `randn` call takes the next offset, as a CUDA generator does."""

    def __init__(self, seed: int):
        self.seed, self.offset = int(seed), 0

    def randn(self, shape: Tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        counter = np.zeros((4, n), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        self.offset += 1
        key = _as_uint32_pairs(np.full(n, self.seed, dtype=np.uint64))
        words = philox4_32(counter, key)
        return box_muller(words[0], words[1]).reshape(shape)
