"""What bench/run.py and bench/gpu_bench.py share: the same jobs through the core and through bare diffusers, on
the same loaded components, seed, sampler, size and number of UNet steps, timed in one run."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple, TypeVar

import numpy as np
import torch
from PIL import Image

from pipelines import Done, Failed, Job, Progress, Services, img2img_steps

CASES = ("img2img", "inpaint")

from diffusers.utils import logging as _diffusers_logging  # noqa: E402

_diffusers_logging.set_verbosity_error()  # no safety-checker lecture between the timings
_diffusers_logging.disable_progress_bar()


def add_job_arguments(parser, repeats: int = 0) -> None:
    """The flags every benchmark takes: the job's size, steps and strength (and how often to repeat it)."""
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=0.75)
    if repeats:
        parser.add_argument("--repeats", type=int, default=repeats)


def noise_picture(size: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (size, size, 3), dtype=np.uint8))


def centre_mask(size: int) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    return mask


@dataclass
class Timing:
    seconds: float  # the whole job: pictures in, pictures out (the core also saves its PNG)
    its: float  # UNet steps per second, between the first and the last step


@dataclass
class Comparison:
    core: Timing  # the best run of each side
    diffusers: Timing
    ratio: float  # core/diffusers: the median of the pairs' ratios


T = TypeVar("T")


def in_turns(first: Callable[[int], T], second: Callable[[int], T], repeats: int) -> Tuple[List[T], List[T]]:
    """`repeats` pairs of runs, one of each side, the two runs of a pair one after the other and in turns (first
    then second, then second then first), so that drift on a shared machine hits both sides of a pair alike. Each
    side is called with the pair's number."""
    firsts, seconds = [], []
    for r in range(repeats):
        if r % 2 == 0:
            firsts.append(first(r))
        seconds.append(second(r))
        if r % 2 == 1:
            firsts.append(first(r))
    return firsts, seconds


def median_ratio(firsts: List[float], seconds: List[float]) -> float:
    """The median of the pairs' time ratios, first/second."""
    return statistics.median(a / b for a, b in zip(firsts, seconds))


def its_between(stamps: List[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")


def time_core(services: Services, case: str, size: int, steps: int, strength: float, seed: int, sync,
              picture: int = 0) -> Timing:
    job = Job(init_images=[noise_picture(size, picture)], mask=centre_mask(size) if case == "inpaint" else None,
              prompt="a photo of a cat", sampler_name="Euler", steps=steps, denoising_strength=strength,
              width=size, height=size, seed=seed, cfg_scale=7)
    stamps = []
    start = time.perf_counter()
    for event in services.queue.run(job):
        if isinstance(event, Progress):
            sync()
            stamps.append(time.perf_counter())
        elif isinstance(event, Failed):
            raise RuntimeError(event.error)
    sync()
    seconds = time.perf_counter() - start
    assert isinstance(event, Done) and event.images
    return Timing(seconds, its_between(stamps))


def diffusers_pipelines(services: Services) -> Dict[str, object]:
    """Bare diffusers pipelines over the loaded model's components, with the same scheduler as the core's "Euler"."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline

    loaded = services.models.model.pipe
    components = dict(loaded.components)
    components["scheduler"] = EulerDiscreteScheduler.from_config(loaded.scheduler.config, use_karras_sigmas=False,
                                                                 use_exponential_sigmas=False, use_beta_sigmas=False)
    pipes = {"img2img": StableDiffusionImg2ImgPipeline(**components),
             "inpaint": StableDiffusionInpaintPipeline(**components)}
    for pipe in pipes.values():
        pipe.set_progress_bar_config(disable=True)
    return pipes


def time_diffusers(pipe, case: str, size: int, steps: int, strength: float, seed: int, sync,
                   picture: int = 0) -> Timing:
    # diffusers runs int(steps * strength) steps, A1111 (and the core) one more: give diffusers the same count
    steps_run = img2img_steps(steps, strength, False)[1]
    stamps = []

    def on_step(p, i, t, kwargs):
        sync()
        stamps.append(time.perf_counter())
        return kwargs

    kwargs = dict(prompt="a photo of a cat", image=noise_picture(size, picture), num_inference_steps=steps,
                  strength=min(1.0, (steps_run + 0.5) / steps), guidance_scale=7, height=size, width=size,
                  generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=on_step)
    if case == "inpaint":
        kwargs["mask_image"] = centre_mask(size)
    else:
        del kwargs["height"], kwargs["width"]
    start = time.perf_counter()
    images = pipe(**kwargs).images
    sync()
    seconds = time.perf_counter() - start
    assert images and len(stamps) == steps_run, (len(stamps), steps_run)
    return Timing(seconds, its_between(stamps))


def compare(services: Services, size: int, steps: int, strength: float, repeats: int, sync: Callable[[], None],
            label: str = "", fresh_pictures: bool = False) -> Dict[str, Comparison]:
    """`repeats` pairs of runs of each case, one through each side, on one init picture (a user generating again),
    or with `fresh_pictures` on another picture for each pair (then the core's VAE encoder has no posterior to
    reuse). The two runs of a pair follow each other, in turns (core first, then diffusers first), so that drift
    on a shared machine hits both sides of a pair alike; the ratio of a case is the median of its pairs' ratios.
    The times shown are each side's best run."""
    pipes = diffusers_pipelines(services)
    results: Dict[str, Comparison] = {}

    def picture(r: int) -> int:
        return 1 + r if fresh_pictures else 0
    for case in CASES:
        time_core(services, case, size, steps, strength, 1, sync)  # warm-up
        time_diffusers(pipes[case], case, size, steps, strength, 1, sync)
        core_runs, bare_runs = in_turns(
            lambda r: time_core(services, case, size, steps, strength, 1 + r, sync, picture(r)),
            lambda r: time_diffusers(pipes[case], case, size, steps, strength, 1 + r, sync, picture(r)), repeats)
        ratio = median_ratio([c.seconds for c in core_runs], [b.seconds for b in bare_runs])
        core, bare = best_timing(core_runs), best_timing(bare_runs)
        results[case] = Comparison(core, bare, ratio)
        print(f"{label}{case:8s} {size}x{size} {steps} steps @ {strength}: core {core.seconds:7.3f} s "
              f"({core.its:6.2f} it/s)   diffusers {bare.seconds:7.3f} s ({bare.its:6.2f} it/s)   "
              f"ratio {ratio:.3f} (median of {repeats} pairs)", flush=True)
    return results


def best_timing(runs: List[Timing]) -> Timing:
    """The fastest run (as timeit reports): on a shared machine the other runs measure the neighbours too."""
    return Timing(min(r.seconds for r in runs), max(r.its for r in runs))


def worst_ratio(results: Dict[str, Comparison]) -> float:
    return max(r.ratio for r in results.values())
