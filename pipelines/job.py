"""What one generation request is: the `Job` (A1111's API field names, A1111's UI defaults) and the settings that travel
with it (`Options`, A1111's option keys). Each field is declared once, with its bounds, API default and page control
(see params.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from PIL import Image

from .choices import EMPHASIS_MODES, InpaintArea, MaskedContent, MaskMode, ResizeMode
from .noise import RNG_SOURCES
from .params import InputField, ParamError, check_declared, declared
from .saving import SaveFormat
from .samplers import SCHEDULES, UnknownSamplerError, sampler_names, split_sampler_and_schedule

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_SEED = 2 ** 32 - 1  # A1111's seeds: -1 (random) or 0 .. 2^32 - 1
MAX_PROMPT = 20000  # characters: longer prompts only hold the GPU
MAX_PICTURES = 1000  # n_iter x batch_size of one job
SAVE_FORMATS = ("png", "jpg", "jpeg", "webp")


class JobError(ParamError):
    """A job that cannot run; the message names the field and the problem."""


@dataclass
class Options:
    """The img2img settings of A1111's settings page that change a result (reference 2.10), by their option keys."""
    inpainting_mask_weight: float = InputField(1.0, label="Inpainting conditioning mask strength", ge=0, le=1)
    initial_noise_multiplier: float = InputField(1.0, label="Noise multiplier for img2img", ge=0, le=1.5)
    img2img_color_correction: bool = InputField(False, label="Apply color correction to img2img results")
    img2img_fix_steps: bool = InputField(False, label="With img2img, do exactly the amount of steps the slider "
                                                      "specifies")
    img2img_background_color: str = InputField("#ffffff", label="Background color for transparent init pictures")
    samples_save: bool = InputField(True, label="Always save all generated images")
    samples_format: str = InputField("png", label="File format for images", choices=SAVE_FORMATS, strict_choices=True)
    grid_save: bool = InputField(True, label="Always save all generated image grids")
    grid_format: str = InputField("png", label="File format for grids", choices=SAVE_FORMATS, strict_choices=True)
    jpeg_quality: int = InputField(80, label="Quality for saved jpeg and webp images", ge=1, le=100)
    webp_lossless: bool = InputField(False, label="Use lossless compression for webp images")
    png_compress_level: int = InputField(1, label="PNG compression level", ge=0, le=9,
                                         help="1: fastest, 9: smallest files; the same pixels at every level")
    enable_pnginfo: bool = InputField(True, label="Save the generation parameters in the picture",
                                      help="the PNG text chunk, or the EXIF comment of a jpg or webp")
    return_grid: bool = InputField(True, label="Show grid in gallery")
    show_progress_every_n_steps: int = InputField(3, label="Live preview every N steps", ge=-1)
    live_previews_enable: bool = InputField(True, label="Show live previews")
    sd_vae: str = InputField("Automatic", label="SD VAE", help='"Automatic", "None", or a file under the VAE folder')
    CLIP_stop_at_last_layers: int = InputField(1, label="Clip skip", ge=1, le=12, ui=(1, 12, 1), infotext="Clip skip")
    emphasis: str = InputField("Original", label="Emphasis mode", choices=EMPHASIS_MODES, strict_choices=True)
    comma_padding_backtrack: int = InputField(20, label="Prompt word wrap length limit", ge=0, le=74)
    enable_prompt_comments: bool = InputField(True, label="Enable comments")
    # Sampler parameters (A1111's "Sampler parameters" settings)
    eta_ancestral: float = InputField(1.0, label="Eta for k-diffusion samplers", ge=0, le=1, infotext="Eta")
    eta_ddim: float = InputField(0.0, label="Eta for DDIM", ge=0, le=1, infotext="Eta DDIM")
    eta_noise_seed_delta: int = InputField(0, label="Eta noise seed delta", ge=0, le=2 ** 32, infotext="ENSD")
    randn_source: str = InputField("GPU", label="Random number generator source", choices=RNG_SOURCES,
                                   strict_choices=True, infotext="RNG",
                                   help="GPU: the model's device; CPU: the same picture on every device; "
                                        "NV: CUDA's numbers on any device")
    img2img_extra_noise: float = InputField(0.0, label="Extra noise multiplier for img2img", ge=0, le=1,
                                            infotext="Extra noise")
    s_churn: float = InputField(0.0, label="Sigma churn", ge=0, le=100, infotext="Sigma churn")
    s_tmin: float = InputField(0.0, label="Sigma tmin", ge=0, le=10, infotext="Sigma tmin")
    s_tmax: float = InputField(0.0, label="Sigma tmax", ge=0, le=999, help="0: infinity", infotext="Sigma tmax")
    s_noise: float = InputField(1.0, label="Sigma noise", ge=0, le=1.1, infotext="Sigma noise")
    sigma_min: float = InputField(0.0, label="Schedule min sigma", ge=0, help="0: the model's",
                                  infotext="Schedule min sigma")
    sigma_max: float = InputField(0.0, label="Schedule max sigma", ge=0, help="0: the model's",
                                  infotext="Schedule max sigma")
    rho: float = InputField(0.0, label="Schedule rho", ge=0, help="0: the schedule type's", infotext="Schedule rho")
    beta_dist_alpha: float = InputField(0.6, label="Beta schedule alpha", ge=0.01, le=1,
                                        infotext="Beta schedule alpha")
    beta_dist_beta: float = InputField(0.6, label="Beta schedule beta", ge=0.01, le=1, infotext="Beta schedule beta")
    s_min_uncond: float = InputField(0.0, label="Negative Guidance minimum sigma", ge=0, le=15, infotext="NGMS",
                                     help="below this sigma, every other step skips the negative prompt")
    s_min_uncond_all: bool = InputField(False, label="Negative Guidance minimum sigma all steps",
                                        infotext="NGMS all steps")
    skip_early_cond: float = InputField(0.0, label="Ignore negative prompt during early sampling", ge=0, le=1,
                                        infotext="Skip Early CFG", help="the fraction of the first steps without CFG")
    pad_cond_uncond: bool = InputField(False, label="Pad prompt/negative prompt", infotext="Pad conds",
                                       help="pad the shorter with empty chunks, so both run in one UNet call")
    pad_cond_uncond_v0: bool = InputField(False, label="Pad prompt/negative prompt (v0)", infotext="Pad conds v0",
                                          help="the negative prompt padded with its last vector, or cut")
    upscaler_for_img2img: str = InputField("None", label="Upscaler for img2img",
                                           help="enlarges init pictures before they are resized to W x H")
    ESRGAN_tile: int = InputField(192, label="Tile size for upscaler models", ge=0, le=2048, help="0: no tiling")
    ESRGAN_tile_overlap: int = InputField(8, label="Tile overlap for upscaler models", ge=0, le=256)
    tiling: bool = InputField(False, label="Tiling", infotext="Tiling", help="produce a tileable picture")
    face_restoration: bool = InputField(False, label="Restore faces", infotext="Face restoration",
                                        help="restore faces in the results with a face restoration model")
    face_restoration_model: str = InputField("CodeFormer", label="Face restoration model",
                                             choices=("CodeFormer", "GFPGAN"), strict_choices=True)
    code_former_weight: float = InputField(0.5, label="CodeFormer weight", ge=0, le=1,
                                           help="0: the strongest effect, 1: the weakest")
    always_discard_next_to_last_sigma: bool = InputField(False, label="Always discard next-to-last sigma",
                                                         infotext="Discard penultimate sigma")

    def save_format(self, grid: bool = False) -> SaveFormat:
        return SaveFormat(self.grid_format if grid else self.samples_format, self.jpeg_quality, self.webp_lossless,
                          self.enable_pnginfo, self.png_compress_level)

    def with_overrides(self, overrides: Dict[str, Any]) -> "Options":
        """A copy with a job's `override_settings` applied; keys of settings this project does not have are ignored
        (A1111 clients send many), values of known keys are converted to their type and checked."""
        params = declared(Options)
        changes = {}
        for key, value in (overrides or {}).items():
            param = params.get(key)
            if param is None:
                continue
            try:
                changes[key] = value if param.type is bool else param.type(value)
            except (TypeError, ValueError):
                raise JobError(f"setting {key} must be a {param.type.__name__}, not {value!r}") from None
        changed = dataclasses.replace(self, **changes)
        try:
            check_declared(changed)
        except ParamError as e:
            raise JobError(f"setting {e}") from None
        return changed


@dataclass
class Job:
    """One img2img request (txt2img when it has no init picture). Pictures are PIL images already read (modes/ and
    api/ read them)."""
    init_images: List[Image.Image] = field(default_factory=list)
    mask: Optional[Image.Image] = None
    latent_mask: Optional[Image.Image] = None  # the per-step blend's mask where it differs from `mask` (outpainting)
    script_name: Optional[str] = None  # a selectable script's title (pipelines/scripts), any case
    script_args: List[Any] = field(default_factory=list)  # its arguments, in A1111's order
    alwayson_scripts: Dict[str, Any] = field(default_factory=dict)  # {"soft inpainting": {"args": [...]}}
    extra_generation_params: Dict[str, Any] = field(default_factory=dict)  # infotext pairs a script adds
    color_correction_source: Optional[Image.Image] = None  # what colour correction matches, if not the init picture
    prompt: str = InputField("", label="Prompt", max_length=MAX_PROMPT, infotext="Prompt")
    negative_prompt: str = InputField("", label="Negative prompt", max_length=MAX_PROMPT, infotext="Negative prompt")
    resize_mode: int = InputField(ResizeMode.JUST_RESIZE, label="Resize mode", api="img2img")
    width: int = InputField(512, label="Width", ge=MIN_SIZE, le=MAX_SIZE, ui=(64, 2048, 8), infotext="Size-1")
    height: int = InputField(512, label="Height", ge=MIN_SIZE, le=MAX_SIZE, ui=(64, 2048, 8), infotext="Size-2")
    scale_by: Optional[float] = InputField(None, label="Scale", type=float, optional=True, ge=0.05, le=8,
                                           ui=(0.05, 4, 0.05), ui_default=1.0, api=None,
                                           help='"Resize by": the size is the first init picture\'s times this')
    denoising_strength: float = InputField(0.75, label="Denoising strength", ge=0, le=1, ui=(0, 1, 0.01),
                                           api="img2img", infotext="Denoising strength")
    mask_blur: Optional[int] = InputField(None, label="Mask blur", type=int, optional=True, ge=0, le=256,
                                          ui=(0, 64, 1), ui_default=4, api="img2img", infotext="Mask blur",
                                          help="pixels of blur at the mask's edge (sets mask_blur_x and mask_blur_y)")
    mask_blur_x: int = InputField(4, label="Mask blur x", ge=0, le=256, api="img2img", page=False, cli=False)
    mask_blur_y: int = InputField(4, label="Mask blur y", ge=0, le=256, api="img2img", page=False, cli=False)
    mask_round: bool = InputField(True, label="Round the mask", api="img2img", page=False, cli=False)
    inpainting_fill: int = InputField(MaskedContent.ORIGINAL, label="Masked content", api_default=MaskedContent.FILL,
                                      api="img2img", infotext="Masked content")
    inpaint_full_res: bool = InputField(False, label="Inpaint area", choices=InpaintArea, api_default=True,
                                        ui_name="inpaint_area", api="img2img", infotext="Inpaint area")
    inpaint_full_res_padding: int = InputField(32, label="Only masked padding, pixels", ge=0, le=MAX_SIZE,
                                               ui=(0, 256, 4), api_default=0, api="img2img",
                                               infotext="Masked area padding")
    inpainting_mask_invert: int = InputField(MaskMode.INPAINT_MASKED, label="Mask mode", ui_name="mask_mode",
                                             api="img2img", infotext="Mask mode")
    initial_noise_multiplier: Optional[float] = InputField(None, label="Noise multiplier", type=float, optional=True,
                                                           ge=0, le=1.5, api="img2img", page=False,
                                                           help="empty: the setting initial_noise_multiplier")
    eta: Optional[float] = InputField(None, label="Eta", type=float, optional=True, ge=0, le=1, page=False,
                                      cli=False, help="empty: the setting eta_ancestral, or eta_ddim for DDIM")
    s_churn: Optional[float] = InputField(None, label="Sigma churn", type=float, optional=True, ge=0, le=100,
                                          page=False, cli=False, help="empty: the setting s_churn")
    s_tmin: Optional[float] = InputField(None, label="Sigma tmin", type=float, optional=True, ge=0, le=10,
                                         page=False, cli=False, help="empty: the setting s_tmin")
    s_tmax: Optional[float] = InputField(None, label="Sigma tmax", type=float, optional=True, ge=0, le=999,
                                         page=False, cli=False, help="empty: the setting s_tmax")
    s_noise: Optional[float] = InputField(None, label="Sigma noise", type=float, optional=True, ge=0, le=1.1,
                                          page=False, cli=False, help="empty: the setting s_noise")
    s_min_uncond: Optional[float] = InputField(None, label="NGMS", type=float, optional=True, ge=0, le=15,
                                               page=False, cli=False, help="empty: the setting s_min_uncond")
    restore_faces: Optional[bool] = InputField(None, label="Restore faces", type=bool, optional=True,
                                               ui_default=False, help="empty: the setting face_restoration")
    tiling: Optional[bool] = InputField(None, label="Tiling", type=bool, optional=True, ui_default=False,
                                        help="a picture whose edges continue each other; empty: the setting tiling")
    sampler_name: str = InputField("DPM++ 2M", label="Sampling method", choices=sampler_names, api_default=None,
                                   infotext="Sampler")
    scheduler: str = InputField("Automatic", label="Schedule type", choices=SCHEDULES, api_default=None,
                                infotext="Schedule type")
    steps: int = InputField(20, label="Sampling steps", ge=1, le=1000, ui=(1, 150, 1), api_default=50,
                            infotext="Steps")
    cfg_scale: float = InputField(7.0, label="CFG Scale", ge=0, le=100, ui=(1, 30, 0.5), infotext="CFG scale")
    seed: int = InputField(-1, label="Seed", ge=-1, le=MAX_SEED, help="-1: a random seed", infotext="Seed")
    subseed: int = InputField(-1, label="Variation seed", ge=-1, le=MAX_SEED)
    subseed_strength: float = InputField(0.0, label="Variation strength", ge=0, le=1, ui=(0, 1, 0.01))
    seed_resize_from_h: int = InputField(-1, label="Resize seed from height", ge=-1, le=MAX_SIZE, ui=(0, 2048, 8),
                                         ui_default=0, help="0 or -1: off")
    seed_resize_from_w: int = InputField(-1, label="Resize seed from width", ge=-1, le=MAX_SIZE, ui=(0, 2048, 8),
                                         ui_default=0, help="0 or -1: off")
    n_iter: int = InputField(1, label="Batch count", ge=1, le=MAX_PICTURES, ui=(1, 100, 1))
    batch_size: int = InputField(1, label="Batch size", ge=1, le=64, ui=(1, 8, 1))
    styles: List[str] = InputField([], label="Styles", api_default=None, help="names from styles.csv, in order")
    override_settings: Dict[str, Any] = InputField({}, label="Override settings", api_default=None, page=False,
                                                   cli=False)
    do_not_save_samples: bool = InputField(False, label="Do not save samples", page=False, cli=False)
    do_not_save_grid: bool = InputField(False, label="Do not save grid", page=False, cli=False)

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
        try:
            check_declared(self)
        except ParamError as e:
            raise JobError(str(e)) from None
        self._check_pictures()
        if self.n_iter * self.batch_size > MAX_PICTURES:
            raise JobError(f"n_iter x batch_size is {self.n_iter * self.batch_size}: a job makes at most "
                           f"{MAX_PICTURES} pictures")
        width, height = self.target_size()
        for name, value in (("width", width), ("height", height)):
            if not MIN_SIZE <= value <= MAX_SIZE:
                how = f" after scaling by {self.scale_by}" if self.scale_by is not None else ""
                raise JobError(f"{name} is {value}{how}: it must be between {MIN_SIZE} and {MAX_SIZE}")
        try:
            split_sampler_and_schedule(self.sampler_name, self.scheduler)
        except UnknownSamplerError as e:
            raise JobError(str(e)) from None

    def _check_pictures(self) -> None:
        for i, image in enumerate(self.init_images):
            if not isinstance(image, Image.Image):
                raise JobError(f"init_images[{i}] is not an image")
        if len(self.init_images) > 1 and len(self.init_images) > self.batch_size:
            raise JobError(f"init_images: {len(self.init_images)} images for batch_size {self.batch_size} "
                           "(several init images are the batch: batch_size must be at least their number)")
        if self.mask is None:
            return
        if not isinstance(self.mask, Image.Image):
            raise JobError("mask is not an image")
        if not self.init_images:
            raise JobError("mask: a mask needs an init image")
        image, mask = self.init_images[0], self.mask
        if abs(mask.width / mask.height - image.width / image.height) > 0.01 * image.width / image.height:
            raise JobError(f"mask is {mask.width}x{mask.height} but the image is {image.width}x{image.height}: "
                           "the mask must have the image's aspect ratio")
