"""Mode 4, Inpaint upload: a picture and a separate mask of any size and mode (L, RGB or RGBA); white, or opaque
on a transparent background, is repainted."""
from pipelines import Job, load_image


def make_job(image, mask, **params) -> Job:
    return Job(init_images=[load_image(image, "init image")], mask=load_image(mask, "mask"), **params)
