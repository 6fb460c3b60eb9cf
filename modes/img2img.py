"""Mode 0, img2img: the uploaded picture as it is (an RGBA picture is flattened on the background colour later)."""
from pipelines import Job, load_image


def make_job(image, **params) -> Job:
    return Job(init_images=[load_image(image, "init image")], **params)
