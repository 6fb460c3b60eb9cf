"""What one generation request is: the `Job` (A1111's API field names, A1111's UI defaults), the settings that
travel with it (`Options`, A1111's option keys), and the events a running job produces."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from PIL import Image

from .samplers import UnknownSamplerError, split_sampler_and_schedule

MIN_SIZE, MAX_SIZE = 64, 2048
RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")


class JobError(ValueError):
    """A job that cannot run; the message names the field and the problem."""


@dataclass
class Options:
    """The img2img settings of A1111's settings page that change a result (reference 2.10), by their option keys."""
    inpainting_mask_weight: float = 1.0
    initial_noise_multiplier: float = 1.0
    img2img_color_correction: bool = False
    img2img_fix_steps: bool = False
    img2img_background_color: str = "#ffffff"
    samples_save: bool = True
    grid_save: bool = True
    return_grid: bool = True
    show_progress_every_n_steps: int = 3
    live_previews_enable: bool = True
    sd_vae: str = "Automatic"  # "Automatic", "None", or a file name under the VAE folder
    CLIP_stop_at_last_layers: int = 1  # Clip skip
    emphasis: str = "Original"
    comma_padding_backtrack: int = 20
    enable_prompt_comments: bool = True

    def with_overrides(self, overrides: Dict[str, Any]) -> "Options":
        """A copy with a job's `override_settings` applied; keys of settings this project does not have are ignored
        (A1111 clients send many), values of known keys are checked."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes = {}
        for key, value in (overrides or {}).items():
            if key not in known:
                continue
            expected = type(getattr(self, key))
            try:
                changes[key] = expected(value) if expected is not bool or isinstance(value, bool) else None
            except (TypeError, ValueError):
                changes[key] = None
            if changes[key] is None:
                raise JobError(f"setting {key} must be a {expected.__name__}, not {value!r}")
        return dataclasses.replace(self, **changes)


@dataclass
class Job:
    """One img2img request (txt2img when it has no init picture). Pictures are PIL images already read (modes/ and
    api/ read them)."""
    init_images: List[Image.Image] = field(default_factory=list)
    mask: Optional[Image.Image] = None
    prompt: str = ""
    negative_prompt: str = ""
    resize_mode: int = 0
    width: int = 512
    height: int = 512
    scale_by: Optional[float] = None  # "Resize by": width and height follow the first init picture times this
    denoising_strength: float = 0.75
    mask_blur: Optional[int] = None  # sets both mask_blur_x and mask_blur_y, as in A1111's API
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_round: bool = True
    inpainting_fill: int = 1
    inpaint_full_res: bool = False
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: Optional[float] = None  # None: the option
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    n_iter: int = 1
    batch_size: int = 1
    styles: List[str] = field(default_factory=list)  # names from styles.csv, applied in order
    override_settings: Dict[str, Any] = field(default_factory=dict)
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False

    def __post_init__(self):
        self.prompt = self.prompt or ""
        self.negative_prompt = self.negative_prompt or ""
        self.styles = list(self.styles or [])
        if self.mask_blur is not None:
            self.mask_blur_x = self.mask_blur_y = self.mask_blur

    def target_size(self):
        """The processing size W x H: "Resize to", or "Resize by" the first init picture (rounded down to 8)."""
        from .imageops import scaled_size
        if self.scale_by is not None and self.init_images:
            return scaled_size(self.init_images[0].width, self.init_images[0].height, self.scale_by)
        return self.width - self.width % 8, self.height - self.height % 8

    def validate(self) -> None:
        """Raise a JobError naming the first field that cannot work."""
        for i, image in enumerate(self.init_images):
            if not isinstance(image, Image.Image):
                raise JobError(f"init_images[{i}] is not an image")
        if self.mask is not None and not isinstance(self.mask, Image.Image):
            raise JobError("mask is not an image")
        if len(self.init_images) > 1 and len(self.init_images) > self.batch_size:
            raise JobError(f"init_images: {len(self.init_images)} images for batch_size {self.batch_size} "
                           "(several init images are the batch: batch_size must be at least their number)")
        _check_range("steps", self.steps, 1, 1000, integer=True)
        _check_range("denoising_strength", self.denoising_strength, 0, 1)
        _check_range("cfg_scale", self.cfg_scale, 0, 100)
        _check_range("n_iter", self.n_iter, 1, 10000, integer=True)
        _check_range("batch_size", self.batch_size, 1, 64, integer=True)
        _check_range("resize_mode", self.resize_mode, 0, len(RESIZE_MODES) - 1, integer=True)
        _check_range("inpainting_fill", self.inpainting_fill, 0, len(MASKED_CONTENT) - 1, integer=True)
        _check_range("mask_blur_x", self.mask_blur_x, 0, 256)
        _check_range("mask_blur_y", self.mask_blur_y, 0, 256)
        _check_range("inpaint_full_res_padding", self.inpaint_full_res_padding, 0, 2048, integer=True)
        _check_range("subseed_strength", self.subseed_strength, 0, 1)
        if self.initial_noise_multiplier is not None:
            _check_range("initial_noise_multiplier", self.initial_noise_multiplier, 0, 1.5)
        if self.scale_by is not None:
            _check_range("scale_by", self.scale_by, 0.05, 8)
        width, height = self.target_size()
        for name, value in (("width", width), ("height", height)):
            if not MIN_SIZE <= value <= MAX_SIZE:
                how = f" after scaling by {self.scale_by}" if self.scale_by is not None else ""
                raise JobError(f"{name} is {value}{how}: it must be between {MIN_SIZE} and {MAX_SIZE}")
        if not all(isinstance(s, str) for s in self.styles):
            raise JobError(f"styles must be a list of style names, not {self.styles!r}")
        for name in ("seed", "subseed", "seed_resize_from_h", "seed_resize_from_w"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise JobError(f"{name} must be an integer, not {getattr(self, name)!r}")
        try:
            split_sampler_and_schedule(self.sampler_name, self.scheduler)
        except UnknownSamplerError as e:
            raise JobError(str(e)) from None
        if self.mask is not None and not self.init_images:
            raise JobError("mask: a mask needs an init image")
        if self.mask is not None:
            image, mask = self.init_images[0], self.mask
            if abs(mask.width / mask.height - image.width / image.height) > 0.01 * image.width / image.height:
                raise JobError(f"mask is {mask.width}x{mask.height} but the image is {image.width}x{image.height}: "
                               "the mask must have the image's aspect ratio")


def _check_range(name, value, low, high, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise JobError(f"{name} must be {kind}, not {value!r}")
    if not low <= value <= high:
        raise JobError(f"{name} is {value}: it must be between {low} and {high}")


# ---------------------------------------------------------------------------------------------------------------------
# events

@dataclass
class Queued:
    position: int  # jobs ahead of this one


@dataclass
class Notice:
    message: str


@dataclass
class Progress:
    step: int  # steps done in the current image batch
    steps: int  # steps that batch runs
    job_no: int  # which of the n_iter batches (0-based)
    job_count: int
    preview: Optional[Image.Image] = None


@dataclass
class Result:
    image: Image.Image
    infotext: str
    seed: int
    index: int  # position among the job's images
    path: Optional[str] = None


@dataclass
class Failed:
    error: str
    invalid: bool = False  # the job itself was bad (a client error), not the run


@dataclass
class Done:
    """The job's end: every image with its infotext, A1111's `info` fields, and whether it was interrupted."""
    images: List[Image.Image]
    infotexts: List[str]
    seeds: List[int]
    subseeds: List[int]
    info: Dict[str, Any]
    interrupted: bool = False
    grid: Optional[Image.Image] = None  # with more than one picture, as A1111 returns it
    grid_path: Optional[str] = None
