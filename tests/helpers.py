"""Pictures the tests make: seeded noise, so that any change of a pixel shows."""
import numpy as np
from PIL import Image


def noise_image(width, height, seed=0, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.RandomState(seed).randint(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if mode == "L" else array, mode)


def rect_mask(width, height, box, mode="L"):
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, box)
    return mask.convert(mode)


def pixels(image):
    return np.asarray(image.convert("RGB")).astype(np.int16)
