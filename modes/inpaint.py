"""Mode 2, Inpaint: the background is the init picture; what was painted on the layers is the mask."""
from typing import Sequence

from PIL import Image, ImageChops

from pipelines import Job, load_image


def mask_from_layers(layers: Sequence[Image.Image], size) -> Image.Image:
    """White wherever any layer was painted at all. The canvas shows the mask brush half transparent, so its strokes
    arrive with partial alpha: any alpha counts, as the editor's own eraser leaves none."""
    alpha = Image.new("L", size, 0)
    for layer in layers:
        layer = load_image(layer, "mask layer")
        if layer.size != size:
            layer = layer.resize(size, Image.NEAREST)
        layer_alpha = layer.getchannel("A") if layer.mode == "RGBA" else layer.convert("L")
        alpha = ImageChops.lighter(alpha, layer_alpha)
    return alpha.point(lambda a: 255 if a > 0 else 0)


def make_job(background, layers: Sequence, **params) -> Job:
    image = load_image(background, "init image")
    return Job(init_images=[image], mask=mask_from_layers(layers, image.size), **params)
