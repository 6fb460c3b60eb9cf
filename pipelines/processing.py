"""The job runner: `process_job` turns one Job into pictures, in A1111's order (reference 3.1), as a numbered recipe.

It uses the loaded model's diffusers components directly (text encoder, UNet, VAE, a scheduler per sampler) and
does itself only what A1111 does differently from diffusers' pipelines: A1111's step count for a denoising strength,
masked content in latent space, the keep-the-original blend at every step for every model type, the inpainting
conditioning with `inpainting_mask_weight`, per-picture seeds and variation seeds, and the overlay paste-back.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from . import imageops, prompts
from .conditioning import EMPHASIS_MODES, Conditioning, PromptEncoder, build_conditioning
from .infotext import create_infotext
from .job import MASKED_CONTENT, Done, Job, JobError, Notice, Options, Progress, Result
from .models import LoadedModel, model_hash
from .networks import Library, short_hash, text_encoder_dims
from .noise import RNG_LABEL, batch_noise, fixed_seed, randn
from .samplers import build_scheduler, resolved_schedule, split_sampler_and_schedule
from .saving import ImageSaver

VERSION = "img2img-webui-0.1.0"

# A linear map from SD's four latent channels to RGB: a live preview for almost nothing.
LATENT_RGB_FACTORS = torch.tensor([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173],
                                   [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]])
LATENT_RGB_FACTORS_XL = torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                                      [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]])


@dataclass
class Control:
    """How the caller stops a running job: interrupt ends the job, skip ends the current batch of pictures."""
    interrupted: threading.Event = field(default_factory=threading.Event)
    skipped: threading.Event = field(default_factory=threading.Event)


@dataclass
class PreparedImages:
    """The init pictures at processing size, with what paste-back and colour correction need."""
    images: List[Image.Image]  # one per picture of a batch, W x H (native size for latent upscale)
    txt2img: bool  # no init picture: start from pure noise
    image_mask: Optional[Image.Image]  # blurred, at W x H; None when there is no mask
    overlays: List[Optional[Image.Image]]
    paste_to: Optional[Tuple[int, int, int, int]]
    color_targets: List[Optional[np.ndarray]]
    mask_params: dict  # the infotext keys the mask adds


def img2img_steps(steps: int, denoising_strength: float, fix_steps: bool) -> Tuple[int, int]:
    """(length of the schedule, steps actually run), as A1111 counts them: 20 steps at 0.75 run 16; with
    `img2img_fix_steps` exactly `steps` run, at the end of a longer schedule. Strength 0 runs nothing."""
    if denoising_strength <= 0:
        return steps, 0
    strength = min(denoising_strength, 0.999)
    if fix_steps:
        return int(steps / strength), steps
    return steps, int(strength * steps) + 1


def number(value):
    """Whole numbers as A1111's UI writes them (`CFG scale: 7`, `Denoising strength: 1`)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@torch.inference_mode()
def process_job(job: Job, model: LoadedModel, options: Options, saver: Optional[ImageSaver], control: Control,
                emit: Callable[[object], None], library: Optional[Library] = None) -> Done:
    # 1. Check inputs and settings
    job.validate()
    opts = options.with_overrides(job.override_settings)
    check_prompt_options(opts)
    sampler, schedule = split_sampler_and_schedule(job.sampler_name, job.scheduler)
    width, height = job.target_size()
    # several init pictures are the batch (A1111 sets batch_size to their number)
    batch_size = len(job.init_images) if len(job.init_images) > 1 else job.batch_size
    noise_multiplier = opts.initial_noise_multiplier if job.initial_noise_multiplier is None \
        else job.initial_noise_multiplier

    # 2. Seeds: picture i of the job gets seed + i (the same seed for all with a variation strength)
    seed, subseed = fixed_seed(job.seed), fixed_seed(job.subseed)
    n_images = job.n_iter * batch_size
    all_seeds = [seed if job.subseed_strength > 0 else seed + i for i in range(n_images)]
    all_subseeds = [subseed + i for i in range(n_images)]

    # 3. Mask, init pictures, overlays (pixel space)
    prepared = prepare_images(job, opts, width, height, batch_size, emit)

    # 4. The steps A1111 runs for this denoising strength (all of them for txt2img)
    if prepared.txt2img:
        schedule_steps, steps_run = job.steps, job.steps
    else:
        schedule_steps, steps_run = img2img_steps(job.steps, job.denoising_strength, opts.img2img_fix_steps)

    # 5. Prompts: comments out, extra-network tags out (they stay in the infotext), the VAE and LoRAs in
    prompt, negative_prompt = job.prompt, job.negative_prompt
    if opts.enable_prompt_comments:
        prompt, negative_prompt = prompts.strip_comments(prompt), prompts.strip_comments(negative_prompt)
    text, networks = prompts.extract_extra_networks(prompt)
    negative_text, negative_networks = prompts.extract_extra_networks(negative_prompt)
    loras = [(n.name, n.weight, n.unet_weight) for n in networks + negative_networks if n.kind == "lora"]
    for n in networks + negative_networks:
        if n.kind != "lora":
            emit(Notice(f"<{n.kind}:{n.name}> ignored: only LoRA extra networks are supported"))
    if loras and library is None:
        raise JobError("LoRA tags need a LoRA folder, and none is configured")
    vae_path = library.use_vae(model, opts.sd_vae) if library is not None else None
    lora_context = library.loras.applied(model.pipe, loras, lambda m: emit(Notice(m))) if loras \
        else contextlib.nullcontext([])
    with lora_context as used_loras:
        # 6. Conditioning for every step that runs (prompt editing, alternation, AND, embeddings)
        embeddings = {}
        if library is not None:
            embeddings, _ = library.embeddings.split(text_encoder_dims(model.pipe))
        encoder = PromptEncoder(model, opts.CLIP_stop_at_last_layers, opts.emphasis, opts.comma_padding_backtrack,
                                embeddings)
        conditioning = build_conditioning(encoder, text, negative_text, max(steps_run, 1), batch_size,
                                          job.cfg_scale, width, height) if steps_run else None
        base_params = infotext_params(job, model, opts, sampler, schedule, width, height, noise_multiplier,
                                      prepared.mask_params)
        base_params = add_network_params(base_params, opts, prompt + negative_prompt, vae_path, used_loras,
                                         encoder.used_embeddings)

        # 7. Each batch: noise, init latents, denoise, decode, paste back, save
        images, infotexts, made_seeds, made_subseeds, interrupted = [], [], [], [], False
        for n in range(job.n_iter):
            if control.interrupted.is_set():
                interrupted = True
                break
            control.skipped.clear()
            seeds = all_seeds[n * batch_size:(n + 1) * batch_size]
            subseeds = all_subseeds[n * batch_size:(n + 1) * batch_size]
            if steps_run == 0:
                decoded = [imageops.resize_image(0, im, width, height) if im.size != (width, height) else im
                           for im in prepared.images]
            else:
                latents = denoise(model, job, opts, prepared, conditioning, sampler, schedule, schedule_steps,
                                  steps_run, seeds, subseeds, noise_multiplier, width, height, control,
                                  lambda step, steps, preview: emit(Progress(step, steps, n, job.n_iter, preview)))
                if latents is None:
                    interrupted = control.interrupted.is_set()
                    if interrupted:
                        break
                    emit(Notice(f"skipped batch {n + 1} of {job.n_iter}"))
                    continue
                decoded = decode_latents(model, latents)
            for j, image in enumerate(decoded):
                image = postprocess(image, prepared, j)
                params = dict(base_params, Seed=seeds[j])
                if job.subseed_strength > 0:
                    params["Variation seed"] = subseeds[j]
                infotext = create_infotext(prompt, negative_prompt, params)
                image.info["parameters"] = infotext
                path = None
                if saver is not None and opts.samples_save and not job.do_not_save_samples:
                    path = saver.save_sample(image, seeds[j], infotext)
                emit(Result(image=image, infotext=infotext, seed=seeds[j], index=len(images), path=path))
                images.append(image)
                infotexts.append(infotext)
                made_seeds.append(seeds[j])
                made_subseeds.append(subseeds[j])

    # 8. Grid
    grid = grid_path = None
    save_grid = saver is not None and opts.grid_save and not job.do_not_save_grid and not job.do_not_save_samples
    if len(images) > 1 and (opts.return_grid or save_grid):
        grid = imageops.image_grid(images)
        if save_grid:
            grid_path = saver.save_grid(grid, infotexts[0])
    info = processed_info(job, model, opts, prompt, negative_prompt, seed, subseed, all_seeds, all_subseeds, width,
                          height, sampler, batch_size, base_params, infotexts, vae_path)
    return Done(images=images, infotexts=infotexts, seeds=made_seeds, subseeds=made_subseeds, info=info,
                interrupted=interrupted, grid=grid, grid_path=grid_path)


def check_prompt_options(opts: Options) -> None:
    if opts.emphasis not in EMPHASIS_MODES:
        raise JobError(f"emphasis is {opts.emphasis!r}: it must be one of {', '.join(EMPHASIS_MODES)}")
    if not 1 <= opts.CLIP_stop_at_last_layers <= 12:
        raise JobError(f"CLIP_stop_at_last_layers (Clip skip) is {opts.CLIP_stop_at_last_layers}: "
                       "it must be between 1 and 12")


# ---------------------------------------------------------------------------------------------------------------------
# 3. pixel-space preparation

def prepare_images(job: Job, opts: Options, width: int, height: int, batch_size: int,
                   emit: Callable[[object], None]) -> PreparedImages:
    """A1111's `init` for pictures and mask (reference 3.3 to 3.6): binarize, invert, blur at full resolution, then
    either crop around the mask ("only masked") or resize with the picture; fill; build the overlays."""
    # Latent upscale stretches the latents, so the pixel-space mask and overlay are stretched the same way.
    pixel_resize_mode = 0 if job.resize_mode == 3 else job.resize_mode
    mask_params: dict = {}
    image_mask = mask_for_overlay = crop = paste_to = None
    if job.mask is not None:
        first = job.init_images[0]
        image_mask = imageops.create_binary_mask(job.mask, round=job.mask_round)
        if image_mask.size != first.size:
            image_mask = image_mask.resize(first.size, Image.LANCZOS)
        if job.inpainting_mask_invert:
            image_mask = ImageOps.invert(image_mask)
            mask_params["Mask mode"] = "Inpaint not masked"
        if job.mask_blur_x > 0 or job.mask_blur_y > 0:
            image_mask = imageops.blur_mask(image_mask, job.mask_blur_x, job.mask_blur_y)
            mask_params["Mask blur"] = number(job.mask_blur_x) if job.mask_blur_x == job.mask_blur_y else None
        if job.inpaint_full_res:
            mask_for_overlay = image_mask
            crop = imageops.crop_region_for_mask(image_mask, job.inpaint_full_res_padding)
            if crop is None:
                emit(Notice('Unable to perform "Inpaint Only mask" because mask is blank, switch to img2img mode.'))
                image_mask = mask_for_overlay = None
                mask_params = {}
            else:
                crop = imageops.expand_crop_region(crop, width, height, image_mask.width, image_mask.height)
                x1, y1, x2, y2 = crop
                image_mask = imageops.resize_image(2, image_mask.crop(crop), width, height)
                paste_to = (x1, y1, x2 - x1, y2 - y1)
                mask_params["Inpaint area"] = "Only masked"
                mask_params["Masked area padding"] = job.inpaint_full_res_padding
        else:
            image_mask = imageops.resize_image(pixel_resize_mode, image_mask, width, height)
            mask_for_overlay = imageops.double_mask(image_mask)
        if image_mask is not None and job.inpainting_fill != 1:
            mask_params["Masked content"] = MASKED_CONTENT[job.inpainting_fill]

    images, overlays, color_targets = [], [], []
    for img in job.init_images:
        image = imageops.flatten(img, opts.img2img_background_color)
        if crop is None and job.resize_mode != 3:
            image = imageops.resize_image(job.resize_mode, image, width, height)
        if mask_for_overlay is not None:
            base = image if crop is not None or job.resize_mode != 3 else imageops.resize_image(0, image, width, height)
            if mask_for_overlay.size != base.size:
                mask_for_overlay = imageops.resize_image(pixel_resize_mode, mask_for_overlay, base.width, base.height)
            overlays.append(imageops.make_overlay(base, mask_for_overlay))
        else:
            overlays.append(None)
        if crop is not None:
            image = imageops.resize_image(2, image.crop(crop), width, height)
        if image_mask is not None and job.inpainting_fill != 1:
            image = imageops.fill(image, image_mask if image_mask.size == image.size else image_mask.resize(image.size))
        color_targets.append(imageops.color_correction_target(image) if opts.img2img_color_correction else None)
        images.append(image)

    txt2img = not images
    if txt2img:  # an inpainting model still gets its conditioning: all of a blank picture is the hole
        images, overlays, color_targets = [Image.new("RGB", (width, height), (128, 128, 128))], [None], [None]
    if len(images) == 1:  # one init picture serves the whole batch
        images, overlays, color_targets = images * batch_size, overlays * batch_size, color_targets * batch_size
    return PreparedImages(images, txt2img, image_mask, overlays, paste_to, color_targets, mask_params)


def postprocess(image: Image.Image, prepared: PreparedImages, j: int) -> Image.Image:
    """Colour correction against the prepared init picture, then the overlay of the original (reference 3.12, 3.6)."""
    if prepared.color_targets[j] is not None:
        image = imageops.apply_color_correction(prepared.color_targets[j], image)
    return imageops.apply_overlay(image, prepared.paste_to, prepared.overlays[j])


# ---------------------------------------------------------------------------------------------------------------------
# 7. latents

def pil_to_tensor(images: List[Image.Image]) -> torch.Tensor:
    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images]) / 127.5 - 1
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def encode_images(model: LoadedModel, pixels: torch.Tensor, seeds: List[int]) -> torch.Tensor:
    """VAE-encode a batch in [-1, 1], sampling the posterior with each picture's seed (as A1111 samples it).
    Identical pictures (one init picture for a whole batch) are encoded once."""
    vae = model.pipe.vae
    unique, index = [], []
    for p in pixels:
        for k, u in enumerate(unique):
            if p is u or torch.equal(p, u):
                index.append(k)
                break
        else:
            index.append(len(unique))
            unique.append(p)
    dist = vae.encode(torch.stack(unique).to(model.execution_device, model.vae_dtype)).latent_dist
    mean, std = dist.mean, dist.std
    latents = torch.stack([mean[k] + std[k] * randn(s, tuple(mean.shape[1:])).to(mean.device, mean.dtype)
                           for k, s in zip(index, seeds)])
    return (latents * vae.config.scaling_factor).to(model.dtype)


def decode_latents(model: LoadedModel, latents: torch.Tensor) -> List[Image.Image]:
    vae = model.pipe.vae
    pixels = vae.decode(latents.to(model.vae_dtype) / vae.config.scaling_factor, return_dict=False)[0]
    array = ((pixels.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in array]


def latent_preview(model: LoadedModel, latents: torch.Tensor) -> Image.Image:
    factors = LATENT_RGB_FACTORS_XL if model.is_sdxl else LATENT_RGB_FACTORS
    rgb = torch.einsum("chw,cr->hwr", latents[0].float().cpu(), factors)
    array = ((rgb + 1) / 2).clamp(0, 1).numpy() * 255
    image = Image.fromarray(array.astype(np.uint8))
    return image.resize((image.width * 4, image.height * 4), Image.BILINEAR)


def denoise(model: LoadedModel, job: Job, opts: Options, prepared: PreparedImages, conditioning: Conditioning,
            sampler, schedule, schedule_steps: int, steps_run: int, seeds: List[int], subseeds: List[int],
            noise_multiplier: float, width: int, height: int, control: Control,
            on_step: Callable[[int, int, Optional[Image.Image]], None]) -> Optional[torch.Tensor]:
    """One batch from init pictures to final latents; None when interrupted or skipped."""
    pipe, device, dtype = model.pipe, model.execution_device, model.dtype
    latent_shape = (4, height // 8, width // 8)

    # 6.1 Init latents (latent upscale: encoded at native size, then stretched)
    init_latent = None if prepared.txt2img else encode_images(model, pil_to_tensor(prepared.images), seeds)
    if init_latent is not None and tuple(init_latent.shape[2:]) != latent_shape[1:]:
        init_latent = F.interpolate(init_latent.float(), size=latent_shape[1:], mode="bilinear").to(dtype)
    noise = batch_noise(latent_shape, seeds, subseeds, job.subseed_strength, job.seed_resize_from_w,
                        job.seed_resize_from_h).to(device, dtype)

    # 6.2 Masked content in latent space; keep-mask 1 where the original stays
    keep = regenerate = None
    if prepared.image_mask is not None:
        regenerate = torch.from_numpy(imageops.latent_mask(prepared.image_mask, width, height, job.mask_round))
        regenerate = regenerate[None, None].to(device, dtype)
        keep = 1 - regenerate
        if job.inpainting_fill == 2:  # latent noise
            init_latent = init_latent * keep + noise * regenerate
        elif job.inpainting_fill == 3:  # latent nothing
            init_latent = init_latent * keep

    # 6.3 Inpainting models: the mask and the masked picture's latents as five more UNet input channels
    rows = len(conditioning.parts) + conditioning.do_cfg  # UNet rows per picture: negative, then each AND part
    extra_channels = None
    if model.is_inpainting:
        extra_channels = inpainting_conditioning(model, prepared, opts.inpainting_mask_weight, job.mask_round,
                                                 seeds, latent_shape).repeat(rows, 1, 1, 1)

    # 6.4 Schedule: the last `steps_run` steps of `schedule_steps`
    scheduler = build_scheduler(sampler, schedule, pipe.scheduler.config, noise_seed=seeds[0])
    scheduler.set_timesteps(schedule_steps, device=device)
    t_start = schedule_steps - steps_run
    timesteps = scheduler.timesteps[t_start * scheduler.order:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(t_start * scheduler.order)
    step_kwargs = {}
    if "generator" in scheduler.step.__code__.co_varnames:
        step_kwargs["generator"] = torch.Generator("cpu").manual_seed(seeds[0])

    # 6.5 Starting point: noised init latents (pure noise at strength 1)
    noise = noise * noise_multiplier
    if prepared.txt2img or job.denoising_strength >= 1:
        latents = noise * scheduler.init_noise_sigma
    else:
        latents = scheduler.add_noise(init_latent, noise, timesteps[:1].repeat(len(seeds)))

    # 6.6 Denoising loop
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        if control.interrupted.is_set() or control.skipped.is_set():
            return None
        # the prompt in force at this step of the steps run (second-order samplers call the UNet twice a step)
        prompt_embeds, added_cond_kwargs = conditioning.at(min(steps_run, i * steps_run // total + 1))
        model_input = torch.cat([latents] * rows) if rows > 1 else latents
        model_input = scheduler.scale_model_input(model_input, t)
        if extra_channels is not None:
            model_input = torch.cat([model_input, extra_channels], dim=1)
        noise_pred = pipe.unet(model_input, t, encoder_hidden_states=prompt_embeds,
                               added_cond_kwargs=added_cond_kwargs, return_dict=False)[0]
        noise_pred = conditioning.combine(noise_pred, job.cfg_scale)
        latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
        if keep is not None:
            # The original outside the mask, noised to the next step (clean after the last): for a first-order
            # sampler the same as A1111's blend of the denoised prediction with the clean init latent.
            original = init_latent if i == total - 1 else scheduler.add_noise(init_latent, noise, timesteps[i + 1:i + 2])
            latents = original * keep + latents * regenerate
        step = i + 1
        show = opts.live_previews_enable and opts.show_progress_every_n_steps > 0 \
            and step % opts.show_progress_every_n_steps == 0 and step < total
        on_step(step, total, latent_preview(model, latents) if show else None)
    return latents


def inpainting_conditioning(model: LoadedModel, prepared: PreparedImages, weight: float, round_mask: bool,
                            seeds: List[int], latent_shape) -> torch.Tensor:
    """A1111's `inpainting_image_conditioning`: the picture with the hole blanked by `inpainting_mask_weight`
    (lerp in [-1, 1] space), VAE-encoded, behind the mask at latent size. No mask: all of it is the hole."""
    source = pil_to_tensor(prepared.images)
    if prepared.image_mask is not None:
        cmask = torch.from_numpy(np.asarray(prepared.image_mask.convert("L"), dtype=np.float32) / 255)[None, None]
        if round_mask:
            cmask = torch.round(cmask)
    else:
        cmask = torch.ones(1, 1, *source.shape[2:])
    cond_image = torch.lerp(source, source * (1 - cmask), weight)
    cond_latents = encode_images(model, cond_image, seeds)
    small = F.interpolate(cmask, size=latent_shape[1:]).expand(len(seeds), -1, -1, -1)
    return torch.cat([small.to(cond_latents.device, cond_latents.dtype), cond_latents], dim=1)


# ---------------------------------------------------------------------------------------------------------------------
# infotext

def infotext_params(job: Job, model: LoadedModel, opts: Options, sampler, schedule, width: int, height: int,
                    noise_multiplier: float, mask_params: dict) -> dict:
    """The `Key: value` pairs of reference 5.1, in A1111's order; Seed and Variation seed are set per picture."""
    params = {
        "Steps": job.steps,
        "Sampler": sampler.name,
        "Schedule type": resolved_schedule(sampler, schedule),
        "CFG scale": number(job.cfg_scale),
        "Seed": None,
        "Size": f"{width}x{height}",
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
        "RNG": RNG_LABEL,
    }
    params.update(mask_params)
    if noise_multiplier != 1:
        params["Noise multiplier"] = noise_multiplier
    params["Version"] = VERSION
    return params


def add_network_params(params: dict, opts: Options, prompt_text: str, vae_path, loras, embeddings: dict) -> dict:
    """The VAE, `Lora hashes`, `TI hashes` and `Emphasis` keys (before Version, as A1111 orders them)."""
    params = dict(params)
    version = params.pop("Version")
    if vae_path is not None:
        params["VAE hash"] = model_hash(vae_path)
        params["VAE"] = vae_path.name
    if loras:
        params["Lora hashes"] = ", ".join(f"{lora.name}: {short_hash(lora.path)}" for lora in loras)
    if embeddings:
        params["TI hashes"] = ", ".join(f"{name}: {short_hash(e.path)}" for name, e in embeddings.items())
    if opts.emphasis != "Original" and ("(" in prompt_text or "[" in prompt_text):
        params["Emphasis"] = opts.emphasis
    params["Version"] = version
    return params


def processed_info(job: Job, model: LoadedModel, opts: Options, prompt, negative_prompt, seed, subseed, all_seeds,
                   all_subseeds, width, height, sampler, batch_size, params, infotexts, vae_path) -> dict:
    """A1111's `Processed.js()` fields, for the API's `info`."""
    standard = {"Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model", "Variation seed",
                "Variation seed strength", "Seed resize from", "Denoising strength", "Version", "VAE", "VAE hash",
                "Clip skip"}
    return {
        "prompt": prompt, "all_prompts": [prompt] * len(all_seeds),
        "negative_prompt": negative_prompt, "all_negative_prompts": [negative_prompt] * len(all_seeds),
        "seed": seed, "all_seeds": all_seeds, "subseed": subseed, "all_subseeds": all_subseeds,
        "subseed_strength": job.subseed_strength, "width": width, "height": height, "sampler_name": sampler.name,
        "cfg_scale": job.cfg_scale, "steps": job.steps, "batch_size": batch_size, "restore_faces": False,
        "face_restoration_model": None, "sd_model_name": model.info.name, "sd_model_hash": model.hash,
        "sd_vae_name": vae_path.name if vae_path else None,
        "sd_vae_hash": model_hash(vae_path) if vae_path else None, "seed_resize_from_w": job.seed_resize_from_w,
        "seed_resize_from_h": job.seed_resize_from_h, "denoising_strength": job.denoising_strength,
        "extra_generation_params": {k: v for k, v in params.items() if k not in standard and v is not None},
        "index_of_first_image": 0, "infotexts": infotexts, "styles": job.styles,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": opts.CLIP_stop_at_last_layers,
        "is_using_inpainting_conditioning": model.is_inpainting, "version": VERSION,
    }
