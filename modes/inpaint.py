"""Mode 2, Inpaint: the background is the init picture; what was painted on the layers is the mask."""
from typing import Sequence

from PIL import Image, ImageChops

from pipelines import Job, load_image


def mask_from_layers(layers: Sequence[Image.Image], size) -> Image.Image:
    """White where any layer was painted, as an RGBA picture whose alpha is the strongest stroke: the core's
    `create_binary_mask` then thresholds that alpha, as A1111 does with its sketch mask."""
    alpha = Image.new("L", size, 0)
    for layer in layers:
        layer = load_image(layer, "mask layer")
        if layer.size != size:
            layer = layer.resize(size, Image.NEAREST)
        layer_alpha = layer.getchannel("A") if layer.mode == "RGBA" else layer.convert("L")
        alpha = ImageChops.lighter(alpha, layer_alpha)
    mask = Image.new("RGBA", size, (255, 255, 255, 0))
    mask.putalpha(alpha)
    return mask


def make_job(background, layers: Sequence, **params) -> Job:
    image = load_image(background, "init image")
    return Job(init_images=[image], mask=mask_from_layers(layers, image.size), **params)
