"""The processing core: knows nothing about Gradio, HTTP or files the user picked.

A `Job` says what to make; `build_services(...)` loads a model and starts the queue; `services.queue.submit(job,
owner)` returns a handle whose events say how it goes.
"""
from .choices import InpaintArea, MaskedContent, MaskMode, ResizeMode
from .events import Control, Done, Event, Failed, Notice, Progress, Queued, Result
from .imageops import ImageInputError, load_image
from .infotext import create_infotext, parse_generation_parameters
from .job import Job, JobError, Options
from .job_queue import JobHandle
from .model_manager import Folders, Placement
from .models import CheckpointInfo, ModelLoadError
from .params import Param, declared
from .pipeline import img2img_steps
from .progress import ProgressReport
from .samplers import SCHEDULES, sampler_names
from .services import Services, build_services

__all__ = [
    "InpaintArea", "MaskedContent", "MaskMode", "ResizeMode", "Control", "Done", "Event", "Failed", "Notice",
    "Progress", "Queued", "Result", "ImageInputError", "load_image", "create_infotext", "parse_generation_parameters",
    "Job", "JobError", "Options", "JobHandle", "Folders", "Placement", "CheckpointInfo", "ModelLoadError", "Param",
    "declared", "img2img_steps", "ProgressReport", "SCHEDULES", "sampler_names", "Services", "build_services",
]
