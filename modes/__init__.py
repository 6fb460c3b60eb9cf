"""One module per input mode: that mode's raw inputs -> a Job (reference section 1)."""
from . import batch, img2img, inpaint, inpaint_sketch, inpaint_upload, sketch

__all__ = ["img2img", "sketch", "inpaint", "inpaint_sketch", "inpaint_upload", "batch"]
