"""Mode 1, Sketch: the picture with the coloured strokes burnt in is the init picture; there is no mask."""
from pipelines import Job, load_image


def make_job(composite, **params) -> Job:
    return Job(init_images=[load_image(composite, "sketch")], **params)
