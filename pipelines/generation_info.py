"""What a job's pictures say about how they were made: the infotext's `Key: value` pairs (reference 5.1) and
A1111's `Processed.js()` fields for the API's `info`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

from .infotext import number
from .models import LoadedModel, model_hash
from .networks import short_hash
from .samplers import resolved_schedule

if TYPE_CHECKING:
    from .conditioning import Conditioning
    from .job import Job, Options
    from .preparation import PreparedImages
    from .samplers import Sampler
    from .sampling import SamplerSettings

VERSION = "img2img-webui-0.1.0"


@dataclass
class Run:
    """What the steps of one job share: its settings as resolved, seeds, prepared pictures, steps and prompts."""
    job: "Job"
    opts: "Options"
    sampler: "Sampler"
    schedule: str
    width: int
    height: int
    batch_size: int  # several init pictures are the batch (A1111 sets batch_size to their number)
    noise_multiplier: float
    sampler_settings: "SamplerSettings"
    seed: int = 0
    subseed: int = 0
    all_seeds: List[int] = field(default_factory=list)
    all_subseeds: List[int] = field(default_factory=list)
    prepared: Optional["PreparedImages"] = None
    schedule_steps: int = 0  # the length of the schedule
    steps_run: int = 0  # its last steps, the ones that run
    prompt: str = ""  # as the infotext shows them: tags and styles kept, comments out
    negative_prompt: str = ""
    text: str = ""  # what the text encoder reads: the prompts without extra-network tags
    negative_text: str = ""
    conditioning: Optional["Conditioning"] = None
    params: dict = field(default_factory=dict)  # the infotext's pairs but Seed and Variation seed
    tiling: bool = False  # the job's, else the setting
    face_restorer: Optional[str] = None  # the face restoration model, when faces are restored
    soft_inpainting: Optional[Any] = None  # soft inpainting's settings, when on for a masked job
    soft_params: dict = field(default_factory=dict)  # its infotext pairs (before the mask's, as A1111)
    vae_path: Optional[Path] = None

    def seeds_of(self, n: int):
        """The seeds and variation seeds of the n-th batch of pictures."""
        part = slice(n * self.batch_size, (n + 1) * self.batch_size)
        return self.all_seeds[part], self.all_subseeds[part]


def infotext_params(run: Run, model: LoadedModel) -> dict:
    """The `Key: value` pairs of reference 5.1, in A1111's order; Seed and Variation seed are set per picture."""
    job, opts = run.job, run.opts
    params = {
        "Steps": job.steps,
        "Sampler": run.sampler.name,
        "Schedule type": resolved_schedule(run.sampler, run.schedule),
        "CFG scale": number(job.cfg_scale),
        "Seed": None,
        "Face restoration": run.face_restorer,
        "Size": f"{run.width}x{run.height}",
        "Model hash": model.hash,
        "Model": model.info.name,
        "VAE hash": None,  # set by add_network_params
        "VAE": None,
        "Variation seed": None,
        "Variation seed strength": number(job.subseed_strength) if job.subseed_strength > 0 else None,
        "Seed resize from": f"{job.seed_resize_from_w}x{job.seed_resize_from_h}"
        if job.seed_resize_from_w > 0 and job.seed_resize_from_h > 0 else None,
        "Denoising strength": number(job.denoising_strength) if job.init_images else None,
        "Conditional mask weight": float(opts.inpainting_mask_weight) if model.is_inpainting else None,
        "Clip skip": opts.CLIP_stop_at_last_layers if opts.CLIP_stop_at_last_layers > 1 else None,
        "ENSD": opts.eta_noise_seed_delta if uses_ensd(run) else None,
        "RNG": opts.randn_source if opts.randn_source != "GPU" else None,
        "Tiling": True if run.tiling else None,
    }
    params.update(run.soft_params)
    params.update(run.prepared.mask_params)
    params["Version"] = VERSION
    return params


def add_before_version(params: dict, extra: dict) -> dict:
    """`params` with the keys of `extra` that have a value, before Version (which A1111 writes last)."""
    params = dict(params)
    version = params.pop("Version", None)
    params.update({k: v for k, v in extra.items() if v is not None})
    if version is not None:
        params["Version"] = version
    return params


def uses_ensd(run: Run) -> bool:
    """A1111 writes ENSD for the samplers whose later noise it changes, when their eta is not 0."""
    settings = run.sampler_settings
    eta = settings.eta if run.sampler.takes_eta else run.sampler.eta_default
    return run.opts.eta_noise_seed_delta != 0 and run.sampler.uses_ensd and eta != 0


def add_network_params(params: dict, run: Run, loras, embeddings: dict) -> dict:
    """The VAE, `Lora hashes`, `TI hashes` and `Emphasis` keys (before Version, as A1111 orders them)."""
    params = dict(params)
    if run.vae_path is not None:
        params["VAE hash"] = model_hash(run.vae_path)
        params["VAE"] = run.vae_path.name
    emphasized = run.opts.emphasis != "Original" and any(c in run.prompt + run.negative_prompt for c in "([")
    return add_before_version(params, {
        "Lora hashes": ", ".join(f"{lora.name}: {short_hash(lora.path)}" for lora in loras) or None,
        "TI hashes": ", ".join(f"{name}: {short_hash(e.path)}" for name, e in embeddings.items()) or None,
        "Emphasis": run.opts.emphasis if emphasized else None})


def add_sampling_params(params: dict, run: Run) -> dict:
    """What A1111 adds as it samples: `Noise multiplier`, the sampler's settings, `Pad conds` (before Version)."""
    img2img = not run.prepared.txt2img
    extra = {"Noise multiplier": run.noise_multiplier if run.noise_multiplier != 1 and img2img else None}
    extra.update(run.sampler_settings.infotext(run.sampler, run.schedule, img2img))
    if run.conditioning is not None and run.conditioning.padded:
        extra["Pad conds v0" if run.conditioning.pad_mode == "last" else "Pad conds"] = True
    return add_before_version(params, extra)


STANDARD_KEYS = {"Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model", "Variation seed",
                 "Variation seed strength", "Seed resize from", "Denoising strength", "Version", "VAE", "VAE hash",
                 "Clip skip"}


def processed_info(run: Run, model: LoadedModel, infotexts: List[str]) -> dict:
    """A1111's `Processed.js()` fields, for the API's `info`."""
    job, vae_path = run.job, run.vae_path
    return {
        "prompt": run.prompt, "all_prompts": [run.prompt] * len(run.all_seeds),
        "negative_prompt": run.negative_prompt, "all_negative_prompts": [run.negative_prompt] * len(run.all_seeds),
        "seed": run.seed, "all_seeds": run.all_seeds, "subseed": run.subseed, "all_subseeds": run.all_subseeds,
        "subseed_strength": job.subseed_strength, "width": run.width, "height": run.height,
        "sampler_name": run.sampler.name, "cfg_scale": job.cfg_scale, "steps": job.steps,
        "batch_size": run.batch_size, "restore_faces": run.face_restorer is not None,
        "face_restoration_model": run.face_restorer,
        "sd_model_name": model.info.name, "sd_model_hash": model.hash,
        "sd_vae_name": vae_path.name if vae_path else None,
        "sd_vae_hash": model_hash(vae_path) if vae_path else None, "seed_resize_from_w": job.seed_resize_from_w,
        "seed_resize_from_h": job.seed_resize_from_h, "denoising_strength": job.denoising_strength,
        "extra_generation_params": {k: v for k, v in run.params.items() if k not in STANDARD_KEYS and v is not None},
        "index_of_first_image": 0, "infotexts": infotexts, "styles": job.styles,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": run.opts.CLIP_stop_at_last_layers,
        "is_using_inpainting_conditioning": model.is_inpainting, "version": VERSION,
    }
