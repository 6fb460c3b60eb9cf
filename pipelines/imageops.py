"""Pure image operations of A1111's img2img (reference section 3), in PIL and numpy only.

Every function here is deterministic and free of torch, so the tests can hold it to the reference's formulas exactly.
"""
from __future__ import annotations

import io
import math
import os
from typing import Callable, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .choices import ResizeMode

Box = Tuple[int, int, int, int]
ImageSource = Union[Image.Image, bytes, str, os.PathLike]

MAX_IMAGE_PIXELS = 8192 * 8192  # larger inputs are refused before they are decoded


class ImageInputError(ValueError):
    """An input picture or mask that cannot be used; the message names which one and why."""


# ---------------------------------------------------------------------------------------------------------------------
# reading

def fix_image(image: Image.Image) -> Image.Image:
    """A1111's `images.fix_image`: honour the EXIF orientation, and make palette/RGB transparency a real alpha
    channel."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGB", "P") and isinstance(image.info.get("transparency"), bytes):
        image = image.convert("RGBA")
    return image


class PixelBudget:
    """The pixels one request may decode in all pictures: each is charged from its header, before it is decoded."""

    def __init__(self, pixels: int = MAX_IMAGE_PIXELS):
        self.total = self.left = pixels

    def charge(self, width: int, height: int, what: str) -> None:
        if width * height > self.left:
            raise ImageInputError(f"{what} ({width}x{height}) would pass the {self.total} pixels one request may "
                                  "carry in all its pictures")
        self.left -= width * height


def load_image(source: ImageSource, what: str = "image", budget: Optional[PixelBudget] = None) -> Image.Image:
    """Open a picture from a PIL image, raw bytes or a path, fully decoded and fixed; errors name `what`. Its size
    is checked (and charged to `budget`) from its header, before it is decoded."""
    if isinstance(source, Image.Image):
        return fix_image(source)
    try:
        if isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        else:
            image = Image.open(source)
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageInputError(f"{what} is too large: {width}x{height} pixels (at most {MAX_IMAGE_PIXELS} pixels)")
        if budget is not None:
            budget.charge(width, height, what)
        image.load()
    except ImageInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ImageInputError(f"{what} is not a readable image: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageInputError(f"{what} could not be decoded: {e}") from None
    return fix_image(image)


def flatten(image: Image.Image, background: str = "#ffffff") -> Image.Image:
    """An RGBA picture pasted over a solid background through its alpha, as RGB (A1111 `images.flatten`). An RGB
    picture is returned as it is (not copied: callers make new pictures from it, never change it)."""
    if image.mode == "RGB":
        return image
    if image.mode == "RGBA":
        canvas = Image.new("RGBA", image.size, background)
        canvas.alpha_composite(image)
        image = canvas
    return image.convert("RGB")


# ---------------------------------------------------------------------------------------------------------------------
# sizes

def resize_image(resize_mode: int, im: Image.Image, width: int, height: int,
                 upscaler: Optional[Callable[[Image.Image, float], Image.Image]] = None) -> Image.Image:
    """A1111 `images.resize_image`: just resize, crop and resize, or resize and fill (a latent upscale's pixels are
    filled too). Enlarging goes through `upscaler(picture, scale)` first where one is given (the setting
    `upscaler_for_img2img`), then LANCZOS to the exact size."""

    def resize(w, h):
        image = im
        if upscaler is not None and im.mode != "L" and max(w / im.width, h / im.height) > 1:
            image = upscaler(im, max(w / im.width, h / im.height))
        return image.resize((w, h), resample=Image.LANCZOS)

    if resize_mode == ResizeMode.JUST_RESIZE:
        return resize(width, height)

    ratio = width / height
    src_ratio = im.width / im.height
    if resize_mode == ResizeMode.CROP_AND_RESIZE:
        src_w = width if ratio > src_ratio else im.width * height // im.height
        src_h = height if ratio <= src_ratio else im.height * width // im.width
        resized = resize(src_w, src_h)
        res = Image.new("RGB" if im.mode != "L" else "L", (width, height))
        res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
        return res

    src_w = width if ratio < src_ratio else im.width * height // im.height
    src_h = height if ratio >= src_ratio else im.height * width // im.width
    resized = resize(src_w, src_h)
    res = Image.new("RGB" if im.mode != "L" else "L", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(resized.resize((width, fill_height), box=(0, resized.height, width, resized.height)),
                      box=(0, fill_height + src_h))
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(resized.resize((fill_width, height), box=(resized.width, 0, resized.width, height)),
                      box=(fill_width + src_w, 0))
    return res


def scaled_size(width: int, height: int, scale: float) -> Tuple[int, int]:
    """"Resize by": `int(side * scale)`, rounded down to a multiple of 8 as diffusers needs (Forge does the same)."""
    w, h = int(width * scale), int(height * scale)
    return w - w % 8, h - h % 8


# ---------------------------------------------------------------------------------------------------------------------
# masks

def create_binary_mask(image: Image.Image, round: bool = True) -> Image.Image:
    """A1111 `create_binary_mask`: the alpha channel when it is not fully opaque (thresholded at 128), else
    luminance."""
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.split()[-1]
        return alpha.point(lambda x: 255 if x > 128 else 0) if round else alpha
    return image.convert("L")


def blur_kernel_size(sigma: float) -> int:
    """The kernel A1111 gives cv2.GaussianBlur for a mask blur sigma (4 -> 21)."""
    return 2 * int(2.5 * sigma + 0.5) + 1


def blur_mask(mask: Image.Image, blur_x: float, blur_y: float) -> Image.Image:
    """A1111's separable mask blur, horizontal then vertical, at the mask's resolution. Only the mask's bounding box
    and the kernels' reach around it are blurred: beyond them every pixel is 0 before and after, and the zeros kept
    at the edge of the blurred part reflect as zeros, so the result is the whole mask's blur, bit for bit."""
    mask = mask.convert("L")
    box = mask.getbbox()
    if box is None:
        return mask
    reach_x = blur_kernel_size(blur_x) // 2 + 1 if blur_x > 0 else 0
    reach_y = blur_kernel_size(blur_y) // 2 + 1 if blur_y > 0 else 0
    x1, y1 = max(box[0] - reach_x, 0), max(box[1] - reach_y, 0)
    x2, y2 = min(box[2] + reach_x, mask.width), min(box[3] + reach_y, mask.height)
    np_mask = np.array(mask.crop((x1, y1, x2, y2)))
    if blur_x > 0:
        np_mask = cv2.GaussianBlur(np_mask, (blur_kernel_size(blur_x), 1), blur_x)
    if blur_y > 0:
        np_mask = cv2.GaussianBlur(np_mask, (1, blur_kernel_size(blur_y)), blur_y)
    if (x1, y1, x2, y2) == (0, 0, mask.width, mask.height):
        return Image.fromarray(np_mask)
    blurred = Image.new("L", mask.size, 0)
    blurred.paste(Image.fromarray(np_mask), (x1, y1))
    return blurred


def crop_region_for_mask(mask: Image.Image, pad: int = 0) -> Optional[Box]:
    """The bounding box of the non-zero mask, grown by `pad` and clamped to the picture; None for a blank mask."""
    box = mask.getbbox()
    if not box:
        return None
    if not pad:
        return box
    x1, y1, x2, y2 = box
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, mask.width), min(y2 + pad, mask.height)


def expand_crop_region(box: Box, processing_width: int, processing_height: int,
                       image_width: int, image_height: int) -> Box:
    """Grow a crop box to the W:H aspect ratio, shifted back inside the picture and clamped (A1111 masking.py)."""
    x1, y1, x2, y2 = box
    ratio_crop = (x2 - x1) / (y2 - y1)
    ratio_processing = processing_width / processing_height
    if ratio_crop > ratio_processing:
        diff = int((x2 - x1) / ratio_processing - (y2 - y1))
        y1 -= diff // 2
        y2 += diff - diff // 2
        if y2 >= image_height:
            y1 -= y2 - image_height
            y2 = image_height
        if y1 < 0:
            y2 -= y1
            y1 = 0
        y2 = min(y2, image_height)
    else:
        diff = int((y2 - y1) * ratio_processing - (x2 - x1))
        x1 -= diff // 2
        x2 += diff - diff // 2
        if x2 >= image_width:
            x1 -= x2 - image_width
            x2 = image_width
        if x1 < 0:
            x2 -= x1
            x1 = 0
        x2 = min(x2, image_width)
    return x1, y1, x2, y2


def double_mask(mask: Image.Image) -> Image.Image:
    """Whole-picture overlay mask: the blurred mask x2, clipped, so the feathered edge lies inside the masked area."""
    return Image.fromarray(np.clip(np.array(mask, dtype=np.float32) * 2, 0, 255).astype(np.uint8))


def latent_mask(mask: Image.Image, width: int, height: int, round: bool = True) -> np.ndarray:
    """The mask at latent size, 1 = regenerate, as A1111's `latmask` (PIL's default resample, rounded at 0.5)."""
    small = mask.convert("RGB").resize((width // 8, height // 8))
    values = np.array(small, dtype=np.float32)[..., 0] / 255.0
    return np.around(values) if round else values


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """"Masked content: fill": the hole filled with ever sharper blurs of the surrounding colours (A1111
    masking.fill)."""
    image_mod = Image.new("RGBA", image.size)
    image_masked = Image.new("RGBa", image.size)
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = image_masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            image_mod.alpha_composite(blurred)
    return image_mod.convert("RGB")


# ---------------------------------------------------------------------------------------------------------------------
# paste-back

def make_overlay(image: Image.Image, mask_for_overlay: Image.Image) -> Image.Image:
    """The original, opaque where the overlay mask is 0 and transparent where it is 255 (premultiplied like A1111)."""
    image_masked = Image.new("RGBa", image.size)
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask_for_overlay.convert("L")))
    return image_masked.convert("RGBA")


def uncrop(image: Image.Image, dest_size: Tuple[int, int], paste_to: Box) -> Image.Image:
    """A processed crop, crop-and-resized back to its box, on a transparent canvas of the original's size."""
    x, y, w, h = paste_to
    base = Image.new("RGBA", dest_size)
    base.paste(resize_image(ResizeMode.CROP_AND_RESIZE, image, w, h), (x, y))
    return base


class CroppedOverlay:
    """An "only masked" overlay in O(crop): the original picture, and the overlay of the crop box alone. Outside the
    box the mask is 0, so there the result is the original's pixels: copied once, never composited."""

    def __init__(self, source: Image.Image, box: Box, box_mask: Image.Image):
        """`box_mask`: the overlay mask of the box alone (the box's size)."""
        self.source = source.convert("RGB")
        self.overlay = make_overlay(source.crop(box), box_mask)

    def apply(self, image: Image.Image, paste_to: Box) -> Image.Image:
        x, y, w, h = paste_to
        region = resize_image(ResizeMode.CROP_AND_RESIZE, image, w, h).convert("RGBA")
        region.alpha_composite(self.overlay)
        result = self.source.copy()
        result.paste(region.convert("RGB"), (x, y))
        return result


def apply_overlay(image: Image.Image, paste_to: Optional[Box],
                  overlay: Union[None, Image.Image, CroppedOverlay]) -> Image.Image:
    """Put a generated picture back into the original: uncrop for "only masked", then composite the overlay."""
    if overlay is None:
        return image
    if isinstance(overlay, CroppedOverlay):
        return overlay.apply(image, paste_to)
    if paste_to is not None:
        image = uncrop(image, overlay.size, paste_to)
    image = image.convert("RGBA")
    image.alpha_composite(overlay)
    return image.convert("RGB")


# ---------------------------------------------------------------------------------------------------------------------
# colour correction

def _match_cumulative_cdf(source: np.ndarray, template: np.ndarray) -> np.ndarray:
    """skimage's histogram matching for unsigned integer channels."""
    src_counts = np.bincount(source.ravel())
    tmpl_counts = np.bincount(template.ravel())
    tmpl_values = np.nonzero(tmpl_counts)[0]
    tmpl_counts = tmpl_counts[tmpl_values]
    src_quantiles = np.cumsum(src_counts) / source.size
    tmpl_quantiles = np.cumsum(tmpl_counts) / template.size
    interp_values = np.interp(src_quantiles, tmpl_quantiles, tmpl_values)
    return interp_values[source]


def color_correction_target(image: Image.Image) -> np.ndarray:
    """What colour correction matches against: the prepared init picture in LAB."""
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2LAB)


def _luminosity(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0:1] * 0.299 + rgb[..., 1:2] * 0.587 + rgb[..., 2:3] * 0.114  # blendmodes' weights, as A1111


def _set_luminosity(rgb: np.ndarray, lum: np.ndarray) -> np.ndarray:
    """The W3C compositing SetLum + ClipColor (what the Luminosity blend mode does)."""
    c = rgb + (lum - _luminosity(rgb))
    lc = _luminosity(c)
    n = c.min(axis=-1, keepdims=True)
    x = c.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n < 0, lc + (c - lc) * lc / (lc - n), c)
        c = np.where(x > 1, lc + (c - lc) * (1 - lc) / (x - lc), c)
    return np.clip(np.nan_to_num(c), 0, 1)


def apply_color_correction(target_lab: np.ndarray, image: Image.Image) -> Image.Image:
    """Histogram-match the picture to the init picture in LAB, keeping the generated picture's luminosity."""
    generated = np.asarray(image.convert("RGB"))
    lab = cv2.cvtColor(generated, cv2.COLOR_RGB2LAB)
    matched_lab = np.stack([_match_cumulative_cdf(lab[..., c], target_lab[..., c]) for c in range(3)], axis=-1)
    matched = cv2.cvtColor(matched_lab.astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float64) / 255
    result = _set_luminosity(matched, _luminosity(generated.astype(np.float64) / 255))
    return Image.fromarray(np.round(result * 255).astype(np.uint8))


# ---------------------------------------------------------------------------------------------------------------------
# grids

def image_grid(images: Sequence[Image.Image], rows: Optional[int] = None, background: str = "#000000") -> Image.Image:
    """A1111's grid: `round(sqrt(n))` rows by default, cells the size of the largest picture."""
    if rows is None:
        rows = max(1, round(math.sqrt(len(images))))
    cols = math.ceil(len(images) / rows)
    w = max(im.width for im in images)
    h = max(im.height for im in images)
    grid = Image.new("RGB", (cols * w, rows * h), background)
    for i, im in enumerate(images):
        grid.paste(im, box=(i % cols * w, i // cols * h))
    return grid
