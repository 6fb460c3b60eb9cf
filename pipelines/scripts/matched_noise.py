"""Outpainting mk2's starting picture for the new border: noise whose spectrum is shaped like the known picture's and
whose colours are histogram-matched to it (A1111's `get_matched_noise`, from g-diffuser-bot), with a fixed seed so
that the result follows the job's seed alone."""
from __future__ import annotations

import numpy as np
from PIL import Image


def _fft2(data: np.ndarray) -> np.ndarray:
    """Per channel: ortho-normalised FFT, shifted before and after."""
    out = np.zeros(data.shape, dtype=np.complex128)
    for c in range(data.shape[2]):
        out[:, :, c] = np.fft.ifftshift(np.fft.fft2(np.fft.fftshift(data[:, :, c]), norm="ortho"))
    return out


def _ifft2(data: np.ndarray) -> np.ndarray:
    out = np.zeros(data.shape, dtype=np.complex128)
    for c in range(data.shape[2]):
        out[:, :, c] = np.fft.ifftshift(np.fft.ifft2(np.fft.fftshift(data[:, :, c]), norm="ortho"))
    return out


def _window(width: int, height: int, std: float = 3.14) -> np.ndarray:
    """A1111's "mode 1" window: (1 / ((x^2 + 1)(y^2 + 1)))^(std / 3.14) over [-1, 1] scaled to the aspect."""
    scale_x, scale_y = width / min(width, height), height / min(width, height)
    x = (np.arange(width) / width * 2.0 - 1.0) * scale_x
    y = (np.arange(height) / height * 2.0 - 1.0) * scale_y
    return (1 / ((x[:, None] ** 2 + 1.0) * (y[None, :] ** 2 + 1.0))) ** (std / 3.14)


def match_histograms(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """skimage's `match_histograms` for float pixels, one channel per column of (n, channels) arrays."""
    matched = np.empty(source.shape, dtype=np.float64)
    for c in range(source.shape[1]):
        values, lookup, counts = np.unique(source[:, c], return_inverse=True, return_counts=True)
        ref_values, ref_counts = np.unique(reference[:, c], return_counts=True)
        quantiles = np.cumsum(counts) / source.shape[0]
        ref_quantiles = np.cumsum(ref_counts) / reference.shape[0]
        matched[:, c] = np.interp(quantiles, ref_quantiles, ref_values)[lookup]
    return matched


def get_matched_noise(src: np.ndarray, mask_rgb: np.ndarray, noise_q: float = 1.0,
                      color_variation: float = 0.05) -> np.ndarray:
    """src and mask_rgb: (h, w, 3) floats in 0..1, the mask 1 where the picture is new. The known pixels are kept."""
    width, height, channels = src.shape
    mask_grey = np.sum(mask_rgb, axis=2) / 3.0
    img_mask, ref_mask = mask_grey > 1e-6, mask_grey < 1e-3
    windowed = src * (1.0 - mask_grey[:, :, None])
    windowed /= np.max(windowed)
    windowed += np.average(src) * mask_rgb  # the average known colour in the hole gives the FFT better statistics
    src_fft = _fft2(windowed)
    src_dist = np.absolute(src_fft)
    src_phase = src_fft / src_dist
    rng = np.random.default_rng(0)
    noise_rgb = rng.random((width, height, channels))
    noise_grey = np.sum(noise_rgb, axis=2) / 3.0
    noise_rgb *= color_variation
    noise_rgb += ((1.0 - color_variation) * noise_grey)[:, :, None]
    noise_fft = _fft2(noise_rgb) * _window(width, height)[:, :, None]
    shaped_fft = _fft2(np.real(_ifft2(noise_fft)))
    shaped_fft = np.absolute(shaped_fft) ** 2 * (src_dist ** noise_q) * src_phase
    shaped = np.real(_ifft2(shaped_fft))
    shaped -= np.min(shaped)
    shaped /= np.max(shaped)
    shaped[img_mask, :] = match_histograms(shaped[img_mask, :], src[ref_mask, :])
    shaped = src * (1.0 - mask_rgb) + shaped * mask_rgb
    return np.clip(shaped, 0.0, 1.0)


def matched_noise_image(image: Image.Image, mask: Image.Image, noise_q: float, color_variation: float) -> Image.Image:
    """The picture with its white-masked part replaced by matched noise."""
    src = (np.asarray(image.convert("RGB")) / 255.0).astype(np.float64)
    mask_rgb = (np.asarray(mask.convert("RGB")) / 255.0).astype(np.float64)
    noised = get_matched_noise(src, mask_rgb, noise_q, color_variation)
    return Image.fromarray(np.clip(noised * 255.0, 0.0, 255.0).astype(np.uint8))
