"""Mode 3, Inpaint sketch: the changed pixels are the mask; the blurred strokes are blended into the original
(reference 1.2)."""
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from pipelines import Job, load_image


def sketch_mask(original: Image.Image, sketched: Image.Image, mask_alpha: float) -> Image.Image:
    """255 where any channel changed, dimmed by "Mask transparency" (0-100)."""
    changed = np.any(np.asarray(sketched) != np.asarray(original), axis=-1)
    mask = Image.fromarray(changed.astype(np.uint8) * 255, "L")
    return ImageEnhance.Brightness(mask).enhance(1 - mask_alpha / 100)


def make_job(original, sketched, mask_alpha: float = 0, mask_blur: int = 4, **params) -> Job:
    original = load_image(original, "init image").convert("RGB")
    sketched = load_image(sketched, "sketch").convert("RGB")
    if sketched.size != original.size:
        sketched = sketched.resize(original.size, Image.LANCZOS)
    mask = sketch_mask(original, sketched, mask_alpha)
    blur = ImageFilter.GaussianBlur(mask_blur)
    image = Image.composite(sketched.filter(blur), original, mask.filter(blur))
    return Job(init_images=[image], mask=mask, mask_blur=mask_blur, **params)
