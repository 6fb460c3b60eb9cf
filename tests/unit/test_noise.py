"""Noise sources as A1111 draws them (rng.py, rng_philox.py)."""
import numpy as np
import torch

from pipelines.noise import ImageRNG, randn
from pipelines.philox import PhiloxGenerator


def test_nv_source_gives_cudas_numbers_on_the_cpu():
    """The numbers A1111's rng_philox documents for seed 0 (those of torch.randn on CUDA)."""
    expected = [[-0.92466259, -0.42534415, -2.6438457, 0.14518388],
                [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
                [-1.07454231, -0.36314407, -1.67105067, 2.26550497]]
    generator = PhiloxGenerator(0)
    assert np.allclose(generator.randn((3, 4)), expected, atol=1e-5)
    assert not np.allclose(generator.randn((3, 4)), expected, atol=1e-2)  # the next offset: other numbers


def test_each_picture_has_its_own_generator_that_goes_on_after_the_first_noise():
    shape = (4, 8, 8)
    rng = ImageRNG(shape, [5, 6], [0, 0])
    first, second = rng.next(), rng.next()
    for k, seed in enumerate([5, 6]):
        generator = torch.Generator().manual_seed(seed)
        assert torch.equal(first[k], torch.randn(shape, generator=generator))
        assert torch.equal(second[k], torch.randn(shape, generator=generator))


def test_eta_noise_seed_delta_reseeds_the_later_draws():
    shape = (4, 8, 8)
    rng = ImageRNG(shape, [5], [0], ensd=31337)
    assert torch.equal(rng.next()[0], randn(5, shape))
    assert torch.equal(rng.next()[0], randn(5 + 31337, shape))


def test_variation_and_resized_seeds_keep_a1111s_first_noise():
    shape = (4, 8, 8)
    varied = ImageRNG(shape, [5], [9], subseed_strength=1.0).next()[0]
    assert torch.allclose(varied, randn(9, shape), atol=1e-6)  # strength 1: the variation seed's noise
    resized = ImageRNG(shape, [5], [0], seed_resize_from=(32, 32)).next()[0]
    assert torch.equal(resized[:, 2:6, 2:6], randn(5, (4, 4, 4)))  # drawn at 32x32, centred
