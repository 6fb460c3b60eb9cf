"""Soft inpainting, A1111's built-in always-on extension (`extensions-builtin/soft-inpainting`): the mask keeps its grey
levels; at each step the original and the denoised latents are blended by the mask raised to a power that follows
sigma, their magnitudes interpolated separately; at the end the original pixels come back wherever the picture barely
changed, by a mask made from the latent difference."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image, ImageFilter

from .. import imageops
from ..choices import ResizeMode
from ..denoiser import MaskBlend
from ..infotext import number
from ..job import Job
from ..params import InputField
from .base import Script


@dataclass
class SoftInpaintingArgs:
    enabled: bool = InputField(False, label="Soft inpainting", infotext="Soft inpainting enabled")
    mask_blend_power: float = InputField(
        1.0, label="Schedule bias", ge=0, le=8, ui=(0, 8, 0.1), infotext="Soft inpainting schedule bias",
        help="Shifts when preservation of original content occurs during denoising.")
    mask_blend_scale: float = InputField(
        0.5, label="Preservation strength", ge=0, le=8, ui=(0, 8, 0.05),
        infotext="Soft inpainting preservation strength",
        help="How strongly partially masked content should be preserved.")
    inpaint_detail_preservation: float = InputField(
        4.0, label="Transition contrast boost", ge=1, le=32, ui=(1, 32, 0.5),
        infotext="Soft inpainting transition contrast boost",
        help="Amplifies the contrast that may be lost in partially masked regions.")
    composite_mask_influence: float = InputField(
        0.0, label="Mask influence", ge=0, le=1, ui=(0, 1, 0.05), infotext="Soft inpainting mask influence",
        help="How strongly the original mask should bias the difference threshold.")
    composite_difference_threshold: float = InputField(
        0.5, label="Difference threshold", ge=0, le=8, ui=(0, 8, 0.25), infotext="Soft inpainting difference threshold",
        help="How much an image region can change before the original pixels are not blended in anymore.")
    composite_difference_contrast: float = InputField(
        2.0, label="Difference contrast", ge=0, le=8, ui=(0, 8, 0.25), infotext="Soft inpainting difference contrast",
        help="How sharp the transition should be between blended and not blended.")


class SoftInpainting(Script):
    title = "Soft Inpainting"
    Args = SoftInpaintingArgs

    @classmethod
    def of(cls, job: Job) -> Optional[SoftInpaintingArgs]:
        """The job's settings when it asks for soft inpainting (`alwayson_scripts`, any case) and has a mask."""
        for title, value in (job.alwayson_scripts or {}).items():
            if title.strip().lower() == cls.key():
                args = value.get("args", []) if isinstance(value, dict) else value
                settings = cls.parse(args).args
                return settings if settings.enabled and job.mask is not None else None
        return None


def soft_infotext(s: SoftInpaintingArgs) -> dict:
    """`Soft inpainting enabled: True` and its six settings, by A1111's keys."""
    return {p.infotext: number(float(getattr(s, name))) if name != "enabled" else True
            for name, p in SoftInpainting.params().items()}


# -- per step --------------------------------------------------------------------------------------------------------

def latent_blend(settings: SoftInpaintingArgs, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a and b interpolated by t; the result's magnitude over the channels is ((|a|^p (1-t) + |b|^p t))^(1/p), p the
    transition contrast boost, computed in float64."""
    t3 = t[:, 0][:, None] if t.dim() == 4 else t[0][None, None]
    t2 = t if t.dim() == 4 else t[None]
    interpolated = a * (1 - t2) + b * t2
    result_type = interpolated.dtype
    current = torch.norm(interpolated, p=2, dim=1, keepdim=True).double().add_(0.00001)
    p = settings.inpaint_detail_preservation
    desired = torch.norm(a, p=2, dim=1, keepdim=True).double().pow_(p) * (1 - t3) + \
        torch.norm(b, p=2, dim=1, keepdim=True).double().pow_(p) * t3
    factor = desired.pow_(1 / p).div_(current).to(result_type)
    return interpolated * factor


@dataclass
class SoftMaskBlend(MaskBlend):
    """The per-step blend with the mask raised to sigma^power x scale; the final blend leaves the latents alone."""
    settings: Optional[SoftInpaintingArgs] = None

    def __call__(self, latents: torch.Tensor, sigma: Optional[torch.Tensor] = None,
                 final: bool = False) -> torch.Tensor:
        if final or sigma is None:
            return latents
        s = self.settings
        sigma0 = sigma.reshape(-1)[0]
        t = torch.pow(self.regenerate, (sigma0 ** s.mask_blend_power) * s.mask_blend_scale)
        return latent_blend(s, self.init_latent, latents, t)


# -- after sampling: the overlay from how much each part changed ------------------------------------------------------

def gaussian_kernel(stddev_radius: float = 1.5, max_radius: int = 2) -> Tuple[np.ndarray, int]:
    """A Gaussian tapered to 0 one pixel beyond `max_radius`, 1 at the centre."""
    def gaussian(sqr):
        return math.exp(-sqr / (stddev_radius * stddev_radius))
    zero = gaussian((max_radius + 1.0) ** 2)
    size = max_radius * 2 + 1
    kernel = np.zeros((size, size))
    for y, x in np.ndindex(kernel.shape):
        value = (gaussian((y - max_radius) ** 2.0 + (x - max_radius) ** 2.0) - zero) / (1 - zero)
        kernel[y, x] = max(0.0, value)
    return kernel, max_radius


def weighted_histogram_filter(img: np.ndarray, kernel: np.ndarray, center: int, percentile_min: float,
                              percentile_max: float, min_width: float = 1.0) -> np.ndarray:
    """A1111's filter, vectorised: at each pixel, its neighbours sorted by value and stacked by their kernel weights;
    the weighted mean of the part of the stack between the two percentiles (at least `min_width` wide)."""
    h, w = img.shape
    size = kernel.shape[0]
    padded = np.pad(img.astype(np.float64), center, constant_values=np.inf)  # beyond the edge: sorted last
    values = np.stack([padded[dy:dy + h, dx:dx + w] for dy in range(size) for dx in range(size)], axis=-1)
    weights = np.where(np.isfinite(values), kernel.reshape(-1), 0.0)
    order = np.argsort(values, axis=-1, kind="stable")
    values = np.take_along_axis(values, order, axis=-1)
    weights = np.take_along_axis(weights, order, axis=-1)
    top = np.cumsum(weights, axis=-1)
    bottom = top - weights
    total = top[..., -1:]
    low, high = total * percentile_min, total * percentile_max
    narrow = (high - low) < min_width
    middle = (low + high) / 2
    low, high = np.where(narrow, middle - min_width / 2, low), np.where(narrow, middle + min_width / 2, high)
    over = narrow & (high > total)
    low, high = np.where(over, total - min_width, low), np.where(over, total, high)
    under = narrow & (low < 0)
    low, high = np.where(under, 0.0, low), np.where(under, min_width, high)
    inside_sorted = np.isfinite(values)  # the picture's edge: no neighbours beyond it
    overlap = np.where(inside_sorted, np.clip(np.minimum(high, top) - np.maximum(low, bottom), 0, None), 0.0)
    weight = overlap.sum(axis=-1)
    total_value = (np.where(inside_sorted, values, 0.0) * overlap).sum(axis=-1)
    return np.where(weight != 0, total_value / np.where(weight != 0, weight, 1), 0.0).astype(img.dtype)


def smootherstep(x):
    return x * x * x * (x * (6 * x - 15) + 10)


def adaptive_overlays(settings: SoftInpaintingArgs, regenerate: torch.Tensor, latent_orig: torch.Tensor,
                      latent_processed: torch.Tensor, pictures: List[Image.Image], width: int, height: int,
                      paste_to) -> List[Union[Image.Image, imageops.CroppedOverlay]]:
    """A1111's `apply_adaptive_masks`: per picture, where the latents changed little, the original's pixels (an RGBA
    overlay); the mask is sharpened by the difference threshold and contrast, and biased by the drawn mask."""
    latent_mask = regenerate[:, 0].float() if regenerate.dim() == 4 else regenerate[0].float()
    mask_scalar = 1 - (torch.clamp(latent_mask, min=0, max=1) ** (settings.mask_blend_scale / 2))
    mask_scalar = 0.5 * (1 - settings.composite_mask_influence) + mask_scalar * settings.composite_mask_influence
    mask_scalar = (mask_scalar / (1.00001 - mask_scalar)).cpu().numpy()
    distances = torch.norm(latent_processed.float() - latent_orig.float(), p=2, dim=1)
    kernel, center = gaussian_kernel(stddev_radius=1.5, max_radius=2)
    overlays = []
    for i, (distance, picture) in enumerate(zip(distances, pictures)):
        mask = distance.float().cpu().numpy()
        mask = weighted_histogram_filter(mask, kernel, center, 0.9, 1)
        mask = weighted_histogram_filter(mask, kernel, center, 0.25, 0.75)
        scalar = mask_scalar[i if i < mask_scalar.shape[0] else 0] if mask_scalar.ndim == 3 else mask_scalar
        mask = mask / (settings.composite_difference_threshold * scalar)
        mask = 1 - smootherstep(1 / (1 + mask ** settings.composite_difference_contrast))
        converted = Image.fromarray((255.0 * mask).astype(np.uint8))
        converted = imageops.resize_image(ResizeMode.RESIZE_AND_FILL, converted, width, height).convert("L")
        converted = converted.filter(ImageFilter.GaussianBlur(radius=4))
        if paste_to is None:
            overlays.append(imageops.make_overlay(picture, converted))
        else:  # "only masked": the overlay of the crop box alone (A1111 uncrops the mask to the whole picture)
            x, y, w, h = paste_to
            box_mask = imageops.resize_image(ResizeMode.CROP_AND_RESIZE, converted, w, h)
            overlays.append(imageops.CroppedOverlay(picture, (x, y, x + w, y + h), box_mask))
    return overlays


def soft_overlays(run, sampling, latents: torch.Tensor):
    """The prepared pictures with this batch's soft-inpainting overlays (A1111's `post_sample`: the init pictures
    flattened and resized again, each masked by how much its latents changed); as they were without it."""
    prepared, settings, job = run.prepared, run.soft_inpainting, run.job
    if settings is None or sampling.blend is None:
        return prepared
    pictures = []
    for image in job.init_images:
        image = imageops.flatten(image, run.opts.img2img_background_color)
        if prepared.paste_to is None and job.resize_mode != ResizeMode.LATENT_UPSCALE:
            image = imageops.resize_image(job.resize_mode, image, run.width, run.height)
        pictures.append(image.convert("RGBA"))
    if len(pictures) == 1:
        pictures = pictures * run.batch_size
    overlays = adaptive_overlays(settings, sampling.blend.regenerate, sampling.init_latent, latents, pictures,
                                 run.width, run.height, prepared.paste_to)
    return dataclasses.replace(prepared, overlays=overlays)
