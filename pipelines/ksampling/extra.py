"""The two samplers A1111 adds to k-diffusion's: Restart (Xu et al., "Restart Sampling for Improving Generative
Processes", 2023, as A1111's `sd_samplers_extra.py` runs it) and LCM (A1111's `sd_samplers_lcm.py`)."""
import torch

from .common import default_noise_sampler, get_sigmas_karras, to_d


def restart_plan(sigmas: torch.Tensor) -> list:
    """The (from, to) sigma pairs Restart steps through: from 20 steps on, a Karras schedule over fewer steps and,
    after the step nearest sigma 0.1, one (two from 36 steps) restarts back up to sigma 2."""
    steps = sigmas.shape[0] - 1
    restarts = {}
    if steps >= 20:
        restart_steps, restart_times = (steps // 4, 2) if steps >= 36 else (9, 1)
        sigmas = get_sigmas_karras(steps - restart_steps * restart_times, sigmas[-2].item(), sigmas[0].item(),
                                   device=sigmas.device)
        restarts = {int(torch.argmin(abs(sigmas - 0.1), dim=0)): (restart_steps + 1, restart_times, 2)}
    plan = []
    for i in range(len(sigmas) - 1):
        plan.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in restarts:
            restart_steps, restart_times, restart_max = restarts[i + 1]
            max_idx = int(torch.argmin(abs(sigmas - restart_max), dim=0))
            if max_idx < i + 1:
                restart = get_sigmas_karras(restart_steps, sigmas[i + 1].item(), sigmas[max_idx].item(),
                                            device=sigmas.device)[:-1]
                for _ in range(restart_times):
                    plan.extend(zip(restart[:-1], restart[1:]))
    return plan


def sample_restart(model, x, sigmas, extra_args=None, callback=None, s_noise=1., noise_sampler=None):
    """Heun steps through `restart_plan`; each restart adds fresh noise up to its starting sigma."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = default_noise_sampler(x) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    last_sigma = None
    for step_id, (old_sigma, new_sigma) in enumerate(restart_plan(sigmas)):
        if last_sigma is None:
            last_sigma = old_sigma
        elif last_sigma < old_sigma:
            x = x + noise_sampler(last_sigma, old_sigma) * s_noise * (old_sigma ** 2 - last_sigma ** 2) ** 0.5
        denoised = model(x, old_sigma * s_in, **extra_args)
        d = to_d(x, old_sigma, denoised)
        if callback is not None:
            callback({'x': x, 'i': step_id, 'sigma': new_sigma, 'sigma_hat': old_sigma, 'denoised': denoised})
        dt = new_sigma - old_sigma
        if new_sigma == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, new_sigma * s_in, **extra_args)
            x = x + (d + to_d(x_2, new_sigma, denoised_2)) / 2 * dt
        last_sigma = new_sigma
    return x


def sample_lcm(model, x, sigmas, extra_args=None, callback=None, noise_sampler=None):
    """Latent consistency: each step jumps to the denoised prediction, then noises it to the next sigma."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = default_noise_sampler(x) if noise_sampler is None else noise_sampler
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback({'x': x, 'i': i, 'sigma': sigmas[i], 'sigma_hat': sigmas[i], 'denoised': denoised})
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise_sampler(sigmas[i], sigmas[i + 1])
    return x
