"""The processing core: knows nothing about Gradio, HTTP or files the user picked.

`Job` says what to make, `Engine.submit(job)` returns a handle whose events say how it goes.
"""
from .engine import Engine, JobHandle, pick_device
from .imageops import ImageInputError, load_image
from .infotext import create_infotext, parse_generation_parameters
from .job import (INPAINT_AREAS, MASK_MODES, MASKED_CONTENT, RESIZE_MODES, Done, Failed, Job, JobError, Notice, Options,
                  Progress, Queued, Result)
from .models import CheckpointInfo, ModelLoadError
from .processing import VERSION, img2img_steps
from .samplers import SCHEDULES, sampler_names

__all__ = [
    "Engine", "JobHandle", "pick_device", "ImageInputError", "load_image", "create_infotext",
    "parse_generation_parameters", "INPAINT_AREAS", "MASK_MODES", "MASKED_CONTENT", "RESIZE_MODES", "Done", "Failed",
    "Job", "JobError", "Notice", "Options", "Progress", "Queued", "Result", "CheckpointInfo", "ModelLoadError",
    "VERSION", "img2img_steps", "SCHEDULES", "sampler_names",
]
