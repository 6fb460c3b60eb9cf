"""Loopback (A1111's `scripts/loopback.py`): each picture fed back as the next loop's init picture, with seed + 1 and
the denoising strength moving toward a final one along a curve."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..choices import MaskedContent
from ..events import Done
from ..imageops import image_grid
from ..job import Job, JobError
from ..noise import fixed_seed
from ..params import InputField
from .base import Script, ScriptContext, combined_done, sub_job

CURVES = ("Aggressive", "Linear", "Lazy")


@dataclass
class LoopbackArgs:
    loops: int = InputField(4, label="Loops", ge=1, le=1000, ui=(1, 32, 1))
    final_denoising_strength: float = InputField(0.5, label="Final denoising strength", ge=0, le=1, ui=(0, 1, 0.01))
    denoising_curve: str = InputField("Linear", label="Denoising strength curve", choices=CURVES, strict_choices=True)
    append_interrogation: str = InputField("None", label="Append interrogated prompt at each iteration",
                                           choices=("None", "CLIP", "DeepBooru"), strict_choices=True)


def loop_strength(initial: float, final: float, curve: str, loop: int, loops: int) -> float:
    """The denoising strength of loop `loop` (0-based): initial + (final - initial) * f(loop / (loops - 1)), f being
    sin(pi/2 x) for Aggressive, x for Linear, 1 - cos(pi/2 x) for Lazy."""
    if loops == 1:
        return initial
    x = loop / (loops - 1)
    f = {"Aggressive": math.sin(x * math.pi / 2), "Lazy": 1 - math.cos(x * math.pi / 2)}.get(curve, x)
    return initial + (final - initial) * f


class Loopback(Script):
    title = "Loopback"
    Args = LoopbackArgs

    def check(self, job: Job) -> None:
        if not job.init_images:
            raise JobError("Loopback needs an init image")
        if self.args.append_interrogation != "None":
            raise JobError(f"Loopback: interrogation ({self.args.append_interrogation}) is not available on this "
                           "server; use None")

    def run(self, job: Job, context: ScriptContext) -> Done:
        a = self.args
        seed = fixed_seed(job.seed)
        params = dict(job.extra_generation_params, **{"Final denoising strength": a.final_denoising_strength,
                                                      "Denoising curve": a.denoising_curve})
        context.job_count = a.loops * job.n_iter
        kept, first = [], None  # (picture, seed, infotext): every loop's with one batch, else each batch's last
        for _ in range(job.n_iter):
            init, fill, last = job.init_images, job.inpainting_fill, None
            for i in range(a.loops):
                strength = loop_strength(job.denoising_strength, a.final_denoising_strength, a.denoising_curve, i,
                                         a.loops)
                # colour correction keeps matching the first init picture, as A1111's loopback does
                done = context.process(sub_job(job, init_images=init, n_iter=1, batch_size=1, seed=seed,
                                               denoising_strength=strength, inpainting_fill=fill,
                                               do_not_save_grid=True, extra_generation_params=params,
                                               color_correction_source=job.init_images[0]))
                if context.interrupted or not done.images:
                    break
                first = first or done
                seed = done.seeds[0] + 1
                last = (done.images[0], done.seeds[0], done.infotexts[0])
                init, fill = [last[0]], MaskedContent.ORIGINAL
                if job.n_iter == 1:
                    kept.append(last)
            if job.n_iter > 1 and last is not None and not context.interrupted:
                kept.append(last)
            if context.interrupted:
                break
        if first is None:
            return combined_done(None, [], [], [])
        images, seeds, infotexts = (list(column) for column in zip(*kept)) if kept else ([], [], [])
        grids = 0
        if len(images) > 1:
            grid = image_grid(images, rows=1)
            context.show(job, grid, first.infotexts[0], first.seeds[0], grid=True)
            if context.options.return_grid:
                images, infotexts, seeds, grids = [grid] + images, infotexts[:1] + infotexts, seeds[:1] + seeds, 1
        return combined_done(first, images, infotexts, seeds, context.interrupted, grids)
