"""Soft inpainting's operations against A1111's formulas and its own per-pixel filter loop."""
import math

import numpy as np
import pytest
import torch

from pipelines.scripts.soft_inpainting import (SoftInpaintingArgs, SoftMaskBlend, gaussian_kernel, latent_blend,
                                               weighted_histogram_filter)


def a1111_histogram_filter(img, kernel, center, pmin, pmax, min_width=1.0):
    """A1111's `weighted_histogram_filter`, pixel by pixel, as its extension writes it."""
    out = img.copy()
    for idx in np.ndindex(img.shape):
        idx = np.array(idx)
        lo = np.maximum(0, idx - center)
        hi = np.minimum(np.array(img.shape), idx + np.array(kernel.shape) - center)
        values = []
        for window in np.ndindex(tuple(hi - lo)):
            image_index = np.array(window) + lo
            values.append([img[tuple(image_index)], kernel[tuple(image_index - idx + center)], 0.0, 0.0])
        values.sort(key=lambda v: v[0])
        total = 0
        for v in values:
            v[2] = total
            total += v[1]
            v[3] = total
        wmin, wmax = total * pmin, total * pmax
        if wmax - wmin < min_width:
            c = (wmin + wmax) / 2
            wmin, wmax = c - min_width / 2, c + min_width / 2
            if wmax > total:
                wmin, wmax = total - min_width, total
            if wmin < 0:
                wmin, wmax = 0, min_width
        value = weight = 0
        for v in values:
            if wmin >= v[3]:
                continue
            if wmax <= v[2]:
                break
            w = min(wmax, v[3]) - max(wmin, v[2])
            value += v[0] * w
            weight += w
        out[tuple(idx)] = value / weight if weight != 0 else 0
    return out


@pytest.mark.parametrize("pmin, pmax", [(0.9, 1.0), (0.25, 0.75), (0.0, 0.0)])
def test_the_histogram_filter_is_a1111s(pmin, pmax):
    img = np.random.RandomState(1).rand(9, 7).astype(np.float32)
    img[3, 3] = img[3, 4]  # ties sort as A1111's stable sort does
    kernel, center = gaussian_kernel(1.5, 2)
    assert kernel.shape == (5, 5) and kernel[2, 2] == 1.0 and kernel.min() > 0
    ours = weighted_histogram_filter(img, kernel, center, pmin, pmax)
    assert ours.dtype == img.dtype
    np.testing.assert_allclose(ours, a1111_histogram_filter(img, kernel, center, pmin, pmax), rtol=1e-6)


def test_latent_blend_interpolates_directions_and_magnitudes_apart():
    settings = SoftInpaintingArgs(enabled=True, inpaint_detail_preservation=4.0)
    a, b = torch.randn(1, 4, 6, 5), torch.randn(1, 4, 6, 5)
    t = torch.rand(1, 1, 6, 5)
    got = latent_blend(settings, a, b, t)
    mix = a * (1 - t) + b * t
    na, nb = a.norm(dim=1, keepdim=True).double(), b.norm(dim=1, keepdim=True).double()
    desired = (na ** 4 * (1 - t) + nb ** 4 * t) ** 0.25
    expected = mix * (desired / (mix.norm(dim=1, keepdim=True).double() + 0.00001)).float()
    torch.testing.assert_close(got, expected)


def test_the_per_step_blend_follows_sigma_and_the_final_one_keeps_the_result():
    settings = SoftInpaintingArgs(enabled=True, mask_blend_power=1.0, mask_blend_scale=0.5)
    init, current = torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2)
    regenerate = torch.tensor([[[[1.0, 0.5], [0.25, 0.0]]]])
    blend = SoftMaskBlend(init, 1 - regenerate, regenerate, settings)
    assert torch.equal(blend(current, final=True), current)
    out = blend(current, torch.tensor([2.0]))
    t = regenerate ** (2.0 ** 1.0 * 0.5)  # A1111's get_modified_nmask: nmask ^ (sigma ^ power x scale)
    expected = latent_blend(settings, init, current, t)
    torch.testing.assert_close(out, expected)
    assert out[0, 0, 1, 1] == 0 and math.isclose(float(out[0, 0, 0, 0]), 1.0, rel_tol=1e-5)
