"""The img2img pipeline: one Job in, pictures and events out, in A1111's order (reference 3.1).

Written as diffusers' own pipelines are: components handed in, `__call__` a numbered recipe, each step a small named
method. It uses the loaded model's diffusers components directly (text encoder, UNet, VAE) and samples as A1111
does (sampling.py: k-diffusion's samplers through A1111's CFG denoiser, per-picture noise generators, A1111's step
counts). It does itself what A1111 does differently from diffusers: masked content in latent space, the
keep-the-original blend for every model type, the inpainting conditioning with `inpainting_mask_weight`, seeds and
variation seeds, and the overlay paste-back.
"""
from __future__ import annotations

import contextlib
import dataclasses
from concurrent import futures
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from PIL import Image

from . import imageops, prompts
from .choices import MaskedContent, ResizeMode
from .conditioning import PromptEncoder, build_conditioning
from .denoiser import MaskBlend
from .events import Control, Done, Notice, Progress, Result
from .face_restoration import FaceRestorers
from .generation_info import (Run, add_before_version, add_network_params, add_sampling_params, infotext_params,
                              processed_info)
from .infotext import create_infotext
from .job import Job, JobError, Options
from .latents import decode_latents, encode_images, inpainting_conditioning, latent_preview, pil_to_tensor
from .models import LoadedModel, seamless
from .networks import Library, text_encoder_dims
from .noise import ImageRNG, fixed_seed
from .preparation import postprocess, prepare_images
from .samplers import split_sampler_and_schedule
from .sampling import SamplerSettings, Sampling, sample
from .saving import ImageSaver
from .scripts.soft_inpainting import SoftInpainting, SoftMaskBlend, soft_infotext, soft_overlays
from .upscalers import Upscalers

Emit = Callable[[object], None]


@dataclass
class Outputs:
    images: List[Image.Image] = field(default_factory=list)
    infotexts: List[str] = field(default_factory=list)
    seeds: List[int] = field(default_factory=list)
    subseeds: List[int] = field(default_factory=list)
    interrupted: bool = False
    writes: List[futures.Future] = field(default_factory=list)  # pictures the writer thread saves and then announces


def img2img_steps(steps: int, denoising_strength: float, fix_steps: bool) -> Tuple[int, int]:
    """(length of the schedule, steps actually run), as A1111 counts them: 20 steps at 0.75 run 16; with
    `img2img_fix_steps` exactly `steps` run, at the end of a longer schedule. Strength 0 runs nothing."""
    if denoising_strength <= 0:
        return steps, 0
    strength = min(denoising_strength, 0.999)
    if fix_steps:
        return int(steps / strength), steps
    return steps, int(strength * steps) + 1


def saves_samples(saver: Optional[ImageSaver], opts: Options, job: Job) -> bool:
    return saver is not None and opts.samples_save and not job.do_not_save_samples


def saves_grid(saver: Optional[ImageSaver], opts: Options, job: Job) -> bool:
    return saver is not None and opts.grid_save and not job.do_not_save_grid and not job.do_not_save_samples


class Img2ImgPipeline:
    def __init__(self, model: LoadedModel, options: Options, saver: Optional[ImageSaver] = None,
                 library: Optional[Library] = None, upscalers: Optional[Upscalers] = None,
                 face_restorers: Optional[FaceRestorers] = None):
        self.model, self.options, self.saver, self.library = model, options, saver, library
        self.upscalers, self.face_restorers = upscalers, face_restorers

    @torch.inference_mode()
    def __call__(self, job: Job, control: Control, emit: Emit) -> Done:
        outputs = Outputs()
        try:
            run = self.generate(job, control, emit, outputs)
        finally:  # each picture made is saved and announced before the job ends, whatever ended it
            futures.wait(outputs.writes)
        return self.finish(run, outputs)

    def generate(self, job: Job, control: Control, emit: Emit, outputs: Outputs) -> Run:
        # 1. Check inputs and settings
        run = self.check_inputs(job)
        # 2. Seeds: picture i of the job gets seed + i (the same seed for all with a variation strength)
        self.prepare_seeds(run)
        # 3. Pictures and mask in pixel space: resize or crop, blur, fill, overlays
        run.prepared = prepare_images(job, run.opts, run.width, run.height, run.batch_size, emit,
                                      self.img2img_upscaler(run.opts))
        # 4. Steps: how many A1111 runs for this denoising strength (all of them for txt2img)
        self.count_steps(run)
        # 5. Prompts: comments and extra-network tags out (they stay in the infotext), the VAE and LoRAs in
        with self.networks_applied(run, emit) as used_loras, seamless(self.model, run.tiling):
            # 6. Encode the prompts: conditioning for every step of A1111's prompt-editing schedule
            self.encode_prompt(run, used_loras)
            for n in range(job.n_iter):
                if control.interrupted.is_set():
                    outputs.interrupted = True
                    break
                control.skipped.clear()
                seeds, subseeds = run.seeds_of(n)
                prepared = run.prepared
                if run.steps_run == 0:  # strength 0: the prepared pictures come back as they are
                    decoded = self.unsampled(run)
                else:
                    # 7. Prepare latents: encode the pictures, draw the initial noise
                    sampling = self.prepare_latents(run, seeds, subseeds)
                    # 8. Mask latents: masked content in latent space, an inpainting model's extra channels
                    self.mask_latents(run, sampling, seeds)
                    # 9 and 10. Sample: the schedule, the noised start, the sampler's steps through the CFG denoiser
                    latents = sample(self.model, run, sampling, control, lambda step, steps, denoised: emit(
                        Progress(step, steps, n, job.n_iter, self.preview(denoised, step, steps, run.opts))))
                    if latents is None:
                        outputs.interrupted = control.interrupted.is_set()
                        if outputs.interrupted:
                            break
                        emit(Notice(f"skipped batch {n + 1} of {job.n_iter}"))
                        continue
                    # 11. Decode
                    decoded = decode_latents(self.model, latents.to(self.model.dtype))
                    prepared = soft_overlays(run, sampling, latents)
                # 12. Post-process (faces, colours, the original outside the mask), save and emit each picture
                for j, image in enumerate(decoded):
                    image = postprocess(self.restore_faces(run, image), prepared, j)
                    self.save_and_emit(run, image, seeds[j], subseeds[j], emit, outputs)
        return run

    # -- 1 to 6 --------------------------------------------------------------------------------------------------------

    def check_inputs(self, job: Job) -> Run:
        job.validate()
        soft = SoftInpainting.of(job)
        if soft is not None:  # soft inpainting keeps the mask's grey levels
            job = dataclasses.replace(job, mask_round=False)
        opts = self.options.with_overrides(job.override_settings)
        sampler, schedule = split_sampler_and_schedule(job.sampler_name, job.scheduler)
        width, height = job.target_size()
        batch_size = len(job.init_images) if len(job.init_images) > 1 else job.batch_size
        noise_multiplier = opts.initial_noise_multiplier if job.initial_noise_multiplier is None \
            else job.initial_noise_multiplier
        settings = SamplerSettings.of(sampler, job, opts, self.model.is_sdxl)
        restore = job.restore_faces if job.restore_faces is not None else opts.face_restoration
        if restore:
            if self.face_restorers is None:
                raise JobError("restore_faces: this server has no face restoration models folder")
            self.face_restorers.check(opts.face_restoration_model)
        return Run(job, opts, sampler, schedule, width, height, batch_size, noise_multiplier, settings,
                   tiling=job.tiling if job.tiling is not None else opts.tiling,
                   face_restorer=opts.face_restoration_model if restore else None,
                   soft_inpainting=soft, soft_params=soft_infotext(soft) if soft else {})

    def img2img_upscaler(self, opts: Options):
        """The setting `upscaler_for_img2img` as a function, or None for plain LANCZOS."""
        name = opts.upscaler_for_img2img
        if not name or name == "None":
            return None
        if self.upscalers is None:
            raise JobError(f"upscaler_for_img2img: {name!r} needs the upscaler folders, and none are configured")
        self.upscalers.find(name)
        return lambda image, scale: self.upscalers.upscale(image, scale, name, opts.ESRGAN_tile,
                                                           opts.ESRGAN_tile_overlap)

    @staticmethod
    def prepare_seeds(run: Run) -> None:
        job = run.job
        run.seed, run.subseed = fixed_seed(job.seed), fixed_seed(job.subseed)
        n_images = job.n_iter * run.batch_size
        run.all_seeds = [run.seed if job.subseed_strength > 0 else run.seed + i for i in range(n_images)]
        run.all_subseeds = [run.subseed + i for i in range(n_images)]

    @staticmethod
    def count_steps(run: Run) -> None:
        if run.prepared.txt2img:
            run.schedule_steps, run.steps_run = run.job.steps, run.job.steps
        else:
            run.schedule_steps, run.steps_run = img2img_steps(run.job.steps, run.job.denoising_strength,
                                                              run.opts.img2img_fix_steps)

    def networks_applied(self, run: Run, emit: Emit):
        """A context with the job's VAE and LoRAs in the model (taken out after it); yields the LoRAs used."""
        prompt, negative_prompt = run.job.prompt, run.job.negative_prompt
        if run.opts.enable_prompt_comments:
            prompt, negative_prompt = prompts.strip_comments(prompt), prompts.strip_comments(negative_prompt)
        run.prompt, run.negative_prompt = prompt, negative_prompt
        run.text, networks = prompts.extract_extra_networks(prompt)
        run.negative_text, negative_networks = prompts.extract_extra_networks(negative_prompt)
        networks += negative_networks
        loras = [(n.name, n.weight, n.unet_weight) for n in networks if n.kind == "lora"]
        for n in networks:
            if n.kind != "lora":
                emit(Notice(f"<{n.kind}:{n.name}> ignored: only LoRA extra networks are supported"))
        if loras and self.library is None:
            raise JobError("LoRA tags need a LoRA folder, and none is configured")
        if self.library is not None:
            run.vae_path = self.library.use_vae(self.model, run.opts.sd_vae)
        if not loras:
            return contextlib.nullcontext([])
        return self.library.loras.applied(self.model.pipe, loras, lambda message: emit(Notice(message)))

    def encode_prompt(self, run: Run, used_loras) -> None:
        """Conditioning for every step that runs (prompt editing, alternation, AND, embeddings), and the infotext's
        pairs, which name the networks it used."""
        embeddings = {}
        if self.library is not None:
            embeddings, _ = self.library.embeddings.split(text_encoder_dims(self.model.pipe))
        opts = run.opts
        shared = None if used_loras else self.model.text_chunks  # a LoRA changes what the text encoder makes
        encoder = PromptEncoder(self.model, opts.CLIP_stop_at_last_layers, opts.emphasis,
                                opts.comma_padding_backtrack, embeddings, shared)
        if run.steps_run:
            pad_mode = "last" if opts.pad_cond_uncond_v0 else "empty" if opts.pad_cond_uncond else ""
            run.conditioning = build_conditioning(encoder, run.text, run.negative_text,
                                                  run.sampler.total_steps(run.job.steps), run.batch_size,
                                                  run.job.cfg_scale, (run.width, run.height), pad_mode)
        params = add_network_params(infotext_params(run, self.model), run, used_loras, encoder.used_embeddings)
        run.params = add_before_version(add_sampling_params(params, run), run.job.extra_generation_params)

    # -- 7 to 11, for each batch of pictures ---------------------------------------------------------------------------

    def unsampled(self, run: Run) -> List[Image.Image]:
        size = (run.width, run.height)
        return [imageops.resize_image(ResizeMode.JUST_RESIZE, im, *size) if im.size != size else im
                for im in run.prepared.images]

    def prepare_latents(self, run: Run, seeds: List[int], subseeds: List[int]) -> Sampling:
        """The init latents (latent upscale: encoded at native size, then stretched) and each picture's noise
        generator, with its first draw (times the noise multiplier for img2img)."""
        model, job, opts = self.model, run.job, run.opts
        latent_size = (run.height // 8, run.width // 8)
        init_latent = None
        if not run.prepared.txt2img:
            init_latent = encode_images(model, pil_to_tensor(run.prepared.images), seeds).float()
            if tuple(init_latent.shape[2:]) != latent_size:
                init_latent = F.interpolate(init_latent, size=latent_size, mode="bilinear")
        rng = ImageRNG((4, *latent_size), seeds, subseeds, job.subseed_strength,
                       (job.seed_resize_from_w, job.seed_resize_from_h), opts.randn_source, model.execution_device,
                       opts.eta_noise_seed_delta)
        noise = rng.next()
        if init_latent is not None and run.noise_multiplier != 1:
            noise = noise * run.noise_multiplier
        return Sampling(seeds, rng, noise, init_latent)

    def mask_latents(self, run: Run, sampling: Sampling, seeds: List[int]) -> None:
        """Masked content in latent space: "latent noise" from the job's first seeds (drawn once, without variation,
        as A1111), "latent nothing" zeros; the blend that keeps the original outside the mask; an inpainting
        model's mask and masked-picture latents as five more UNet input channels."""
        model, prepared, job = self.model, run.prepared, run.job
        if prepared.image_mask is not None:
            device = model.execution_device
            blend_mask = job.latent_mask if job.latent_mask is not None else prepared.image_mask
            regenerate = torch.from_numpy(imageops.latent_mask(blend_mask, run.width, run.height,
                                                               job.mask_round))[None, None].to(device)
            keep = 1 - regenerate
            init_latent = sampling.init_latent
            if job.inpainting_fill == MaskedContent.LATENT_NOISE:
                first = run.all_seeds[:len(seeds)]
                fill = ImageRNG(tuple(init_latent.shape[1:]), first, first, 0.0, source=run.opts.randn_source,
                                device=device).next()
                init_latent = init_latent * keep + fill * regenerate
            elif job.inpainting_fill == MaskedContent.LATENT_NOTHING:
                init_latent = init_latent * keep
            sampling.init_latent = init_latent
            sampling.blend = MaskBlend(init_latent, keep, regenerate) if run.soft_inpainting is None else \
                SoftMaskBlend(init_latent, keep, regenerate, run.soft_inpainting)
        if model.is_inpainting:
            sampling.extra_channels = inpainting_conditioning(
                model, prepared, run.opts.inpainting_mask_weight, job.mask_round, seeds,
                (run.height // 8, run.width // 8)).repeat(run.conditioning.rows, 1, 1, 1)

    def preview(self, denoised: torch.Tensor, step: int, total: int, opts: Options) -> Optional[Image.Image]:
        every = opts.show_progress_every_n_steps
        if opts.live_previews_enable and every > 0 and step % every == 0 and step < total:
            return latent_preview(self.model, denoised.to(self.model.dtype))
        return None

    # -- 12 and 13 -----------------------------------------------------------------------------------------------------

    def restore_faces(self, run: Run, image: Image.Image) -> Image.Image:
        if run.face_restorer is None:
            return image
        return self.face_restorers.restore(image, run.face_restorer, run.opts.code_former_weight)

    def save_and_emit(self, run: Run, image: Image.Image, seed: int, subseed: int, emit: Emit,
                      outputs: Outputs) -> None:
        params = dict(run.params, Seed=seed)
        if run.job.subseed_strength > 0:
            params["Variation seed"] = subseed
        infotext = create_infotext(run.prompt, run.negative_prompt, params)
        image.info["parameters"] = infotext
        result = Result(image=image, infotext=infotext, seed=seed, index=len(outputs.images))
        if saves_samples(self.saver, run.opts, run.job):
            # off the model's path: the next pictures sample while this one is written, then announced with its file
            outputs.writes.append(self.saver.save_sample_later(
                image, seed, infotext, run.opts.save_format(),
                lambda path: emit(dataclasses.replace(result, path=path))))
        else:
            emit(result)
        outputs.images.append(image)
        outputs.infotexts.append(infotext)
        outputs.seeds.append(seed)
        outputs.subseeds.append(subseed)

    def finish(self, run: Run, outputs: Outputs) -> Done:
        """13. The grid, and A1111's info for the API. A picture that could not be written fails the job here."""
        for write in outputs.writes:
            write.result()
        job, opts, saver = run.job, run.opts, self.saver
        grid = grid_path = None
        save_grid = saves_grid(saver, opts, job)
        if len(outputs.images) > 1 and (opts.return_grid or save_grid):
            grid = imageops.image_grid(outputs.images)
            if save_grid:
                grid_path = saver.save_grid(grid, outputs.infotexts[0], opts.save_format(grid=True))
        return Done(images=outputs.images, infotexts=outputs.infotexts, seeds=outputs.seeds, subseeds=outputs.subseeds,
                    info=processed_info(run, self.model, outputs.infotexts), interrupted=outputs.interrupted,
                    grid=grid, grid_path=grid_path)
