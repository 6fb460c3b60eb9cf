"""Pixel-space preparation of a job's pictures and mask, and the post-processing of its results (reference 3.3 to
3.6, 3.12): binarize, invert, blur at full resolution, crop around the mask ("only masked") or resize with the
picture, fill, overlays; colour correction and paste-back after decoding."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps

from . import imageops
from .choices import InpaintArea, MaskedContent, MaskMode, ResizeMode
from .events import Notice
from .infotext import number
from .job import Job, Options

Box = Tuple[int, int, int, int]
Upscale = Callable[[Image.Image, float], Image.Image]  # (picture, scale) -> a larger picture


@dataclass
class PreparedMask:
    """The mask at processing size, the mask the overlays are made with, and the "only masked" crop."""
    image_mask: Optional[Image.Image] = None  # blurred, at W x H; None when there is no mask
    for_overlay: Optional[Image.Image] = None
    crop: Optional[Box] = None
    paste_to: Optional[Box] = None
    params: dict = field(default_factory=dict)  # the infotext keys the mask adds


@dataclass
class PreparedImages:
    """The init pictures at processing size, with what paste-back and colour correction need."""
    images: List[Image.Image]  # one per picture of a batch, W x H (native size for latent upscale)
    txt2img: bool  # no init picture: start from pure noise
    image_mask: Optional[Image.Image]
    overlays: List[Union[None, Image.Image, imageops.CroppedOverlay]]
    paste_to: Optional[Box]
    color_targets: List[Optional[np.ndarray]]
    mask_params: dict


def prepare_mask(job: Job, width: int, height: int, emit: Callable[[object], None]) -> PreparedMask:
    """A1111's mask handling: binarize, invert, blur at the picture's resolution, then crop around it ("only masked")
    or resize it with the picture."""
    if job.mask is None:
        return PreparedMask()
    first = job.init_images[0]
    mask = imageops.create_binary_mask(job.mask, round=job.mask_round)
    if mask.size != first.size:
        mask = mask.resize(first.size, Image.LANCZOS)
    prepared = PreparedMask()
    if job.inpainting_mask_invert == MaskMode.INPAINT_NOT_MASKED:
        mask = ImageOps.invert(mask)
        prepared.params["Mask mode"] = MaskMode.INPAINT_NOT_MASKED.label
    if job.mask_blur_x > 0 or job.mask_blur_y > 0:
        mask = imageops.blur_mask(mask, job.mask_blur_x, job.mask_blur_y)
        prepared.params["Mask blur"] = number(job.mask_blur_x) if job.mask_blur_x == job.mask_blur_y else None
    if job.inpaint_full_res:
        crop = imageops.crop_region_for_mask(mask, job.inpaint_full_res_padding)
        if crop is None:
            emit(Notice('Unable to perform "Inpaint Only mask" because mask is blank, switch to img2img mode.'))
            return PreparedMask()
        x1, y1, x2, y2 = crop = imageops.expand_crop_region(crop, width, height, mask.width, mask.height)
        prepared.for_overlay, prepared.crop, prepared.paste_to = mask, crop, (x1, y1, x2 - x1, y2 - y1)
        prepared.image_mask = imageops.resize_image(ResizeMode.RESIZE_AND_FILL, mask.crop(crop), width, height)
        prepared.params["Inpaint area"] = InpaintArea.ONLY_MASKED.label
        prepared.params["Masked area padding"] = job.inpaint_full_res_padding
    else:
        prepared.image_mask = imageops.resize_image(pixel_resize_mode(job), mask, width, height)
        prepared.for_overlay = imageops.double_mask(prepared.image_mask)
    if job.inpainting_fill != MaskedContent.ORIGINAL:
        prepared.params["Masked content"] = MaskedContent(job.inpainting_fill).label
    return prepared


def pixel_resize_mode(job: Job) -> ResizeMode:
    """Latent upscale stretches the latents, so the pixel-space mask and overlay are stretched the same way."""
    mode = ResizeMode(job.resize_mode)
    return ResizeMode.JUST_RESIZE if mode == ResizeMode.LATENT_UPSCALE else mode


def prepare_images(job: Job, opts: Options, width: int, height: int, batch_size: int,
                   emit: Callable[[object], None], upscaler: Optional[Upscale] = None) -> PreparedImages:
    """A1111's `init` for pictures and mask: each picture flattened, resized (or cropped; enlarged by `upscaler`
    first where one is given), filled, with its overlay and colour-correction target."""
    mask = prepare_mask(job, width, height, emit)
    latent_upscale = job.resize_mode == ResizeMode.LATENT_UPSCALE
    images, overlays, color_targets = [], [], []
    for img in job.init_images:
        image = imageops.flatten(img, opts.img2img_background_color)
        if mask.crop is None and not latent_upscale:
            image = imageops.resize_image(job.resize_mode, image, width, height, upscaler)
        overlays.append(overlay_for(image, mask, job, width, height))
        if mask.crop is not None:
            image = imageops.resize_image(ResizeMode.RESIZE_AND_FILL, image.crop(mask.crop), width, height,
                                          upscaler)
        if mask.image_mask is not None and job.inpainting_fill != MaskedContent.ORIGINAL:
            fill_mask = mask.image_mask if mask.image_mask.size == image.size else mask.image_mask.resize(image.size)
            image = imageops.fill(image, fill_mask)
        source = job.color_correction_source if job.color_correction_source is not None else image
        color_targets.append(imageops.color_correction_target(source) if opts.img2img_color_correction else None)
        images.append(image)

    txt2img = not images
    if txt2img:  # an inpainting model still gets its conditioning: all of a blank picture is the hole
        images, overlays, color_targets = [Image.new("RGB", (width, height), (128, 128, 128))], [None], [None]
    if len(images) == 1:  # one init picture serves the whole batch
        images, overlays, color_targets = images * batch_size, overlays * batch_size, color_targets * batch_size
    return PreparedImages(images, txt2img, mask.image_mask, overlays, mask.paste_to, color_targets, mask.params)


def overlay_for(image: Image.Image, mask: PreparedMask, job: Job, width: int, height: int) -> Optional[Image.Image]:
    """The original's unmasked pixels, to paste over the result (a latent upscale's at W x H)."""
    if mask.for_overlay is None:
        return None
    base = image
    if mask.crop is None and job.resize_mode == ResizeMode.LATENT_UPSCALE:
        base = imageops.resize_image(ResizeMode.JUST_RESIZE, image, width, height)
    if mask.for_overlay.size != base.size:
        mask.for_overlay = imageops.resize_image(pixel_resize_mode(job), mask.for_overlay, base.width, base.height)
    if mask.crop is not None:  # "only masked": the overlay of the crop box alone
        return imageops.CroppedOverlay(base, mask.crop, mask.for_overlay.crop(mask.crop))
    return imageops.make_overlay(base, mask.for_overlay)


def postprocess(image: Image.Image, prepared: PreparedImages, j: int) -> Image.Image:
    """Colour correction against the prepared init picture, then the overlay of the original (reference 3.12, 3.6)."""
    if prepared.color_targets[j] is not None:
        image = imageops.apply_color_correction(prepared.color_targets[j], image)
    return imageops.apply_overlay(image, prepared.paste_to, prepared.overlays[j])
