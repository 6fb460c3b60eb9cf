"""A1111's timestep samplers (`sd_samplers_timesteps_impl.py`): DDIM, DDIM CFG++ and PLMS step through integer
timesteps with the model's noise prediction; UniPC runs diffusers' UniPC solver over A1111's UniPC time steps.

`model(x, t)` is the CFG denoiser in noise-prediction mode; `alphas_cumprod` the model's."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import UniPCMultistepScheduler

from .schedules import ModelSchedule


def get_timesteps(steps: int, discard_penultimate: bool = False) -> torch.Tensor:
    """A1111's `CompVisSampler.get_timesteps`: 1, 1 + 1000 // steps, ... up to 999."""
    steps += 1 if discard_penultimate else 0
    return torch.clip(torch.asarray(list(range(0, 1000, 1000 // steps))) + 1, 0, 999)


def _alphas(timesteps, alphas_cumprod):
    alphas = alphas_cumprod[timesteps]
    alphas_prev = alphas_cumprod[torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))].to(torch.float64)
    return alphas, alphas_prev, torch.sqrt(1 - alphas)


def _ddim_sigmas(eta, alphas, alphas_prev):
    return eta * np.sqrt((1 - alphas_prev.cpu().numpy()) / (1 - alphas.cpu())
                         * (1 - alphas.cpu() / alphas_prev.cpu().numpy()))


def ddim(model, x, timesteps, alphas_cumprod, extra_args=None, callback=None, eta=0.0, noise_sampler=None):
    """DDIM (eta 0: deterministic). With the denoiser's `keep_noise_uncond` (DDIM CFG++) the unconditional noise
    points the way."""
    alphas, alphas_prev, sqrt_one_minus_alphas = _alphas(timesteps, alphas_cumprod)
    sigmas = _ddim_sigmas(eta, alphas, alphas_prev)
    extra_args = {} if extra_args is None else extra_args
    s_in, s_x = x.new_ones((x.shape[0])), x.new_ones((x.shape[0], 1, 1, 1))
    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        e_t = model(x, timesteps[index].item() * s_in, **extra_args)
        a_t = alphas[index].item() * s_x
        a_prev = alphas_prev[index].item() * s_x
        sigma_t = sigmas[index].item() * s_x
        sqrt_one_minus_at = sqrt_one_minus_alphas[index].item() * s_x
        pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt()
        direction = model.last_noise_uncond if model.keep_noise_uncond else e_t
        dir_xt = (1. - a_prev - sigma_t ** 2).sqrt() * direction
        x = a_prev.sqrt() * pred_x0 + dir_xt
        if eta:  # A1111 draws this noise at every step; at eta 0 it adds nothing
            x = x + sigma_t * noise_sampler(None, None)
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': 0, 'sigma_hat': 0, 'denoised': pred_x0})
    return x


def ddim_cfgpp(model, x, timesteps, alphas_cumprod, extra_args=None, callback=None, eta=0.0, noise_sampler=None):
    """CFG++ (Chung et al., 2024): DDIM guided by the unconditional noise, with the CFG scale divided by 12.5."""
    model.cond_scale_multiplier, model.keep_noise_uncond = 1 / 12.5, True
    return ddim(model, x, timesteps, alphas_cumprod, extra_args, callback, eta, noise_sampler)


def _plms_coefficients(e_t, old_eps):
    """Pseudo linear multistep (Adams-Bashforth) of order 2 to 4 over the earlier noise predictions."""
    if len(old_eps) == 1:
        return (3 * e_t - old_eps[-1]) / 2
    if len(old_eps) == 2:
        return (23 * e_t - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
    return (55 * e_t - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24


def plms(model, x, timesteps, alphas_cumprod, extra_args=None, callback=None, noise_sampler=None):
    """PLMS (Liu et al., 2022): a pseudo improved Euler first step, then pseudo linear multistep."""
    alphas, alphas_prev, sqrt_one_minus_alphas = _alphas(timesteps, alphas_cumprod)
    extra_args = {} if extra_args is None else extra_args
    s_in, s_x = x.new_ones([x.shape[0]]), x.new_ones((x.shape[0], 1, 1, 1))
    old_eps = []

    def x_prev_and_pred_x0(e_t, index):
        a_t, a_prev = alphas[index].item() * s_x, alphas_prev[index].item() * s_x
        pred_x0 = (x - sqrt_one_minus_alphas[index].item() * s_x * e_t) / a_t.sqrt()
        return a_prev.sqrt() * pred_x0 + (1. - a_prev).sqrt() * e_t, pred_x0

    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        ts = timesteps[index].item() * s_in
        t_next = timesteps[max(index - 1, 0)].item() * s_in
        e_t = model(x, ts, **extra_args)
        if not old_eps:
            x_prev, pred_x0 = x_prev_and_pred_x0(e_t, index)
            e_t_prime = (e_t + model(x_prev, t_next, **extra_args)) / 2
        else:
            e_t_prime = _plms_coefficients(e_t, old_eps)
        x_prev, pred_x0 = x_prev_and_pred_x0(e_t_prime, index)
        old_eps.append(e_t)
        if len(old_eps) >= 4:
            old_eps.pop(0)
        x = x_prev
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': 0, 'sigma_hat': 0, 'denoised': pred_x0})
    return x


def unipc(model, x, timesteps, alphas_cumprod, extra_args=None, callback=None, noise_sampler=None,
          is_img2img=False):
    """UniPC (Zhao et al., 2023), third order, B(h) = h, predicting x0, over A1111's time-uniform steps: from the
    last timestep (999 for txt2img) down to 0 in as many steps as there are timesteps. The solver is diffusers'."""
    if len(timesteps) == 0:
        return x
    extra_args = {} if extra_args is None else extra_args
    betas = 1 - alphas_cumprod.double() / torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]]).double()
    scheduler = UniPCMultistepScheduler(trained_betas=betas.numpy(), solver_order=3, solver_type="bh1",
                                        lower_order_final=True, final_sigmas_type="sigma_min")
    start = timesteps[-1].item() if is_img2img else len(alphas_cumprod) - 1
    model_times = torch.linspace(start, 0, len(timesteps) + 1)
    scheduler.set_timesteps(len(timesteps))  # then A1111's time-uniform steps in place of diffusers' own
    scheduler.sigmas = ModelSchedule(alphas_cumprod).t_to_sigma(model_times)
    scheduler.timesteps = model_times[:-1]
    s_in = x.new_ones([x.shape[0]])
    for i, t in enumerate(scheduler.timesteps):
        e_t = model(x, t.item() * s_in, **extra_args)
        x = scheduler.step(e_t, t, x, return_dict=False)[0]
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': 0, 'sigma_hat': 0, 'denoised': x})
    return x
