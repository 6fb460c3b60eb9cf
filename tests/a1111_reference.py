"""A small reference of A1111 v1.10's img2img sampling, for the tests: k-diffusion's own sampler functions and
`CompVisDenoiser` (the `k-diffusion` package's code, loaded without the training and evaluation tools its package
imports), and a port of A1111's `CFGDenoiser`, `rng.ImageRNG`, `TorchHijack`, `get_sigmas` and `sample_img2img`,
written from A1111's source independently of pipelines/ and fed the built-in model's UNet and VAE."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


def load_k_diffusion():
    """(sampling, external) modules of the installed k-diffusion package, without running its __init__."""
    spec = importlib.util.find_spec("k_diffusion")
    assert spec is not None, "the tests' reference needs the k-diffusion package (test.sh installs it, --no-deps)"
    if "kdiff_ref" not in sys.modules:
        package = types.ModuleType("kdiff_ref")
        package.__path__ = [str(Path(spec.origin).parent)]
        utils = types.ModuleType("kdiff_ref.utils")
        utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
        sys.modules["kdiff_ref"], sys.modules["kdiff_ref.utils"] = package, utils
        package.utils = utils
    return importlib.import_module("kdiff_ref.sampling"), importlib.import_module("kdiff_ref.external")


sampling, external = load_k_diffusion()

# A1111's samplers_k_diffusion: label -> (function name, options)
K_SAMPLERS = {
    "DPM++ 2M": ("sample_dpmpp_2m", {"scheduler": "karras"}),
    "DPM++ SDE": ("sample_dpmpp_sde", {"scheduler": "karras", "second_order": True, "brownian_noise": True}),
    "DPM++ 2M SDE": ("sample_dpmpp_2m_sde", {"scheduler": "exponential", "brownian_noise": True}),
    "DPM++ 2M SDE Heun": ("sample_dpmpp_2m_sde", {"scheduler": "exponential", "brownian_noise": True,
                                                  "solver_type": "heun"}),
    "DPM++ 2S a": ("sample_dpmpp_2s_ancestral", {"scheduler": "karras", "uses_ensd": True, "second_order": True}),
    "DPM++ 3M SDE": ("sample_dpmpp_3m_sde", {"scheduler": "exponential", "discard_next_to_last_sigma": True,
                                             "brownian_noise": True}),
    "Euler a": ("sample_euler_ancestral", {"uses_ensd": True}),
    "Euler": ("sample_euler", {}),
    "LMS": ("sample_lms", {}),
    "Heun": ("sample_heun", {"second_order": True}),
    "DPM2": ("sample_dpm_2", {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True}),
    "DPM2 a": ("sample_dpm_2_ancestral", {"scheduler": "karras", "discard_next_to_last_sigma": True,
                                          "uses_ensd": True, "second_order": True}),
    "DPM fast": ("sample_dpm_fast", {"uses_ensd": True}),
    "DPM adaptive": ("sample_dpm_adaptive", {"uses_ensd": True}),
}


def ldm_alphas_cumprod(linear_start=0.00085, linear_end=0.012, steps=1000) -> torch.Tensor:
    """LDM's `make_beta_schedule("linear")` and `register_schedule`: float64 arithmetic, a float32 buffer."""
    betas = (torch.linspace(linear_start ** 0.5, linear_end ** 0.5, steps, dtype=torch.float64) ** 2).numpy()
    return torch.tensor(np.cumprod(1. - betas, axis=0), dtype=torch.float32)


class LatentDiffusion:
    """What `CompVisDenoiser` wraps: `alphas_cumprod` and `apply_model(x, t, cond)` of the LDM model."""

    def __init__(self, unet):
        self.unet, self.alphas_cumprod = unet, ldm_alphas_cumprod()

    def apply_model(self, x, t, cond):
        if self.unet.config.in_channels == 9:  # hybrid conditioning: the image conditioning is concatenated
            x = torch.cat([x] + cond["c_concat"], dim=1)
        return self.unet(x, t, encoder_hidden_states=cond["c_crossattn"][0]).sample


class ImageRNG:
    """`rng.ImageRNG` with randn_source CPU, without variation seeds."""

    def __init__(self, shape, seeds):
        self.shape, self.seeds = shape, seeds
        self.generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        self.is_first = True

    def next(self):
        self.is_first = False
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.generators])


class TorchHijack:
    """A1111 swaps k_diffusion.sampling's `torch` for this: randn_like draws from the pictures' generators."""

    def __init__(self, rng):
        self.rng = rng

    def __getattr__(self, item):
        if item == "randn_like":
            return lambda x: self.rng.next()
        return getattr(torch, item)


def reconstruct_cond_batch(schedules, current_step):
    """Per picture, the first schedule entry (end_at_step, cond) with current_step <= end_at_step."""
    rows = []
    for schedule in schedules:
        target = schedule[-1][1]
        for end_at_step, cond in schedule:
            if current_step <= end_at_step:
                target = cond
                break
        rows.append(target)
    return torch.stack(rows)


class CFGDenoiser(torch.nn.Module):
    """A1111's `CFGDenoiser.forward` for one prompt per picture (no AND), with `batch_cond_uncond` and without
    `pad_cond_uncond` (A1111's defaults)."""

    def __init__(self, inner_model):
        super().__init__()
        self.inner_model, self.step = inner_model, 0
        self.mask = self.nmask = self.init_latent = None

    def combine_denoised(self, x_out, conds_list, uncond, cond_scale):
        denoised_uncond = x_out[-uncond.shape[0]:]
        denoised = torch.clone(denoised_uncond)
        for i, conds in enumerate(conds_list):
            for cond_index, weight in conds:
                denoised[i] += (x_out[cond_index] - denoised_uncond[i]) * (weight * cond_scale)
        return denoised

    def forward(self, x, sigma, uncond, cond, cond_scale, s_min_uncond, image_cond):
        tensor = reconstruct_cond_batch(cond, self.step)
        uncond = reconstruct_cond_batch(uncond, self.step)
        conds_list = [[(i, 1.0)] for i in range(len(cond))]
        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        image_cond_in = torch.cat([image_cond, image_cond])
        if tensor.shape[1] == uncond.shape[1]:
            x_out = self.inner_model(x_in, sigma_in, cond={"c_crossattn": [torch.cat([tensor, uncond])],
                                                           "c_concat": [image_cond_in]})
        else:  # pad_cond_uncond off: cond and uncond of different lengths run in separate calls
            x_out = torch.zeros_like(x_in)
            n, u = tensor.shape[0], uncond.shape[0]
            x_out[:n] = self.inner_model(x_in[:n], sigma_in[:n], cond={"c_crossattn": [tensor],
                                                                       "c_concat": [image_cond_in[:n]]})
            x_out[-u:] = self.inner_model(x_in[-u:], sigma_in[-u:], cond={"c_crossattn": [uncond],
                                                                          "c_concat": [image_cond_in[-u:]]})
        denoised = self.combine_denoised(x_out, conds_list, uncond, cond_scale)
        if self.mask is not None:
            denoised = denoised * self.nmask + self.init_latent * self.mask
        self.step += 1
        return denoised


def get_sigmas(model_wrap, options, steps, scheduler="Automatic"):
    """`KDiffusionSampler.get_sigmas` for Automatic, Karras and Exponential."""
    discard = options.get("discard_next_to_last_sigma", False)
    steps += 1 if discard else 0
    if scheduler == "Automatic":
        scheduler = {"karras": "Karras", "exponential": "Exponential"}.get(options.get("scheduler"), "Automatic")
    sigma_min, sigma_max = model_wrap.sigmas[0].item(), model_wrap.sigmas[-1].item()
    if scheduler == "Karras":
        sigmas = sampling.get_sigmas_karras(n=steps, sigma_min=sigma_min, sigma_max=sigma_max, device="cpu")
    elif scheduler == "Exponential":
        sigmas = sampling.get_sigmas_exponential(n=steps, sigma_min=sigma_min, sigma_max=sigma_max, device="cpu")
    else:
        sigmas = model_wrap.get_sigmas(steps)
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas.cpu()


@dataclass
class Settings:
    """The job's settings the reference reads (the rest at A1111's defaults)."""
    sampler_name: str
    steps: int
    denoising_strength: float
    cfg_scale: float
    scheduler: str = "Automatic"


def sample_img2img(unet, init_latent, conds, unconds, seeds, p: Settings, latent_mask=None, image_cond=None):
    """`processing.StableDiffusionProcessingImg2Img.sample` with `KDiffusionSampler.sample_img2img`: the sampled
    latents. `conds`/`unconds`: per picture, a schedule [(end_at_step, cond)]; `latent_mask` 1 where redrawn."""
    funcname, options = K_SAMPLERS[p.sampler_name]
    steps = p.steps
    func = getattr(sampling, funcname)
    model_wrap = external.CompVisDenoiser(LatentDiffusion(unet))
    rng = ImageRNG(tuple(init_latent.shape[1:]), seeds)
    noise = rng.next()
    t_enc = int(min(p.denoising_strength, 0.999) * steps)
    sigmas = get_sigmas(model_wrap, options, steps, p.scheduler)
    sigma_sched = sigmas[steps - t_enc - 1:]
    xi = init_latent + noise * sigma_sched[0]
    parameters = inspect.signature(func).parameters
    kwargs = {"eta": 1.0} if "eta" in parameters else {}
    if "sigma_min" in parameters:
        kwargs["sigma_min"] = sigma_sched[-2]
    if "sigma_max" in parameters:
        kwargs["sigma_max"] = sigma_sched[0]
    if "n" in parameters:
        kwargs["n"] = len(sigma_sched) - 1
    if "sigmas" in parameters:
        kwargs["sigmas"] = sigma_sched
    if options.get("brownian_noise"):
        kwargs["noise_sampler"] = sampling.BrownianTreeNoiseSampler(
            init_latent, sigmas[sigmas > 0].min(), sigmas.max(), seed=seeds)
    if options.get("solver_type") == "heun":
        kwargs["solver_type"] = "heun"
    denoiser = CFGDenoiser(model_wrap)
    if latent_mask is not None:
        denoiser.init_latent, denoiser.mask, denoiser.nmask = init_latent, 1 - latent_mask, latent_mask
    extra_args = {"cond": conds, "image_cond": image_cond if image_cond is not None
                  else init_latent.new_zeros(init_latent.shape[0], 5, 1, 1),
                  "uncond": unconds, "cond_scale": p.cfg_scale, "s_min_uncond": 0.0}
    sampling.torch = TorchHijack(rng)
    try:
        samples = func(denoiser, xi, extra_args=extra_args, disable=True, callback=None, **kwargs)
    finally:
        sampling.torch = torch
    if latent_mask is not None:
        samples = samples * latent_mask + init_latent * (1 - latent_mask)
    return samples


def decode(vae, samples) -> np.ndarray:
    """`decode_first_stage`, then A1111's conversion to 8 bits (clamp, times 255, truncate)."""
    x = vae.decode(samples / vae.config.scaling_factor).sample
    x = torch.clamp((x + 1.0) / 2.0, min=0.0, max=1.0)
    return np.stack([(255. * np.moveaxis(s.cpu().numpy(), 0, 2)).astype(np.uint8) for s in x])
