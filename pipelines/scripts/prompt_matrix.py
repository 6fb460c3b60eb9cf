"""Prompt matrix (A1111's `scripts/prompt_matrix.py`): `a | b | c` makes a picture for each combination of the parts
after the first, and a grid with the parts as legends."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ..events import Done
from ..imageops import image_grid
from ..job import Job
from ..noise import fixed_seed
from ..params import InputField
from ..tiles import draw_prompt_matrix
from .base import Script, ScriptContext, combined_done, sub_job


@dataclass
class PromptMatrixArgs:
    put_at_start: bool = InputField(False, label="Set at prompt start")
    different_seeds: bool = InputField(False, label="Random seeds", help="a new seed for each combination")
    prompt_type: str = InputField("positive", label="Prompt type", choices=("positive", "negative"),
                                  strict_choices=True)
    variations_delimiter: str = InputField("comma", label="Joining char", choices=("comma", "space"),
                                           strict_choices=True)
    margin_size: int = InputField(0, label="Grid margins", ge=0, le=500, ui=(0, 500, 2))


def matrix_prompts(prompt: str, put_at_start: bool, delimiter: str) -> List[str]:
    """Every combination of the optional parts, in A1111's order (combination n has part i when bit i of n is
    set)."""
    parts = prompt.split("|")
    prompts = []
    for n in range(2 ** (len(parts) - 1)):
        selected = [text.strip().strip(",") for i, text in enumerate(parts[1:]) if n & (1 << i)]
        selected = selected + [parts[0]] if put_at_start else [parts[0]] + selected
        prompts.append(delimiter.join(selected))
    return prompts


class PromptMatrix(Script):
    title = "Prompt matrix"
    img2img_only = False
    Args = PromptMatrixArgs

    def run(self, job: Job, context: ScriptContext) -> Done:
        a = self.args
        positive = a.prompt_type == "positive"
        source = job.prompt if positive else job.negative_prompt
        parts = source.split("|")
        prompts = matrix_prompts(source, a.put_at_start, ", " if a.variations_delimiter == "comma" else " ")
        seed = fixed_seed(job.seed)
        context.job_count = len(prompts)
        images, infotexts, seeds, first = [], [], [], None
        for i, prompt in enumerate(prompts):
            changes = {"prompt": prompt} if positive else {"negative_prompt": prompt}
            done = context.process(sub_job(job, seed=seed + (i if a.different_seeds else 0), n_iter=1, batch_size=1,
                                           do_not_save_grid=True, **changes))
            first = first or done
            images += done.images
            infotexts += done.infotexts
            seeds += done.seeds
            if context.interrupted:
                break
        grids = 0
        if first is not None and len(images) == len(prompts):
            grid = image_grid(images, rows=1 << ((len(parts) - 1) // 2))
            grid = draw_prompt_matrix(grid, images[0].width, images[0].height, parts, a.margin_size)
            context.show(job, grid, infotexts[0], seeds[0], grid=True)
            images, infotexts, seeds, grids = [grid] + images, infotexts[:1] + infotexts, seeds[:1] + seeds, 1
        done = combined_done(first, images, infotexts, seeds, context.interrupted, grids)
        done.info["all_prompts"] = prompts if positive else [job.prompt] * len(prompts)
        return done
