"""Prompts from file or textbox (A1111's `scripts/prompts_from_file.py`): one Job per line. A line is a prompt, or
options as A1111 parses them: `--prompt "a cat" --negative_prompt "blurry" --steps 30 --cfg_scale 5 --seed 1
--sampler_name "Euler a" --width 512 --sd_model name ...`."""
from __future__ import annotations

import random
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Dict, List

from ..events import Done
from ..job import Job, JobError
from ..params import InputField
from ..samplers import UnknownSamplerError, find_sampler
from .base import Script, ScriptContext, combined_done, sub_job


def _bool(text: str) -> bool:
    return text == "true"


def _styles(text: str) -> List[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _sampler(text: str) -> str:
    """A sampler by name or alias, any case (an unknown one is named by the job's check)."""
    try:
        return find_sampler(text).name
    except UnknownSamplerError:
        return text


TAGS: Dict[str, Callable[[str], Any]] = {
    "sd_model": str, "prompt": str, "negative_prompt": str, "styles": _styles, "seed": int,
    "subseed_strength": float, "subseed": int, "seed_resize_from_h": int, "seed_resize_from_w": int,
    "sampler_name": _sampler, "scheduler": str, "batch_size": int, "n_iter": int, "steps": int, "cfg_scale": float,
    "width": int, "height": int, "denoising_strength": float, "restore_faces": _bool, "tiling": _bool,
    "do_not_save_samples": _bool, "do_not_save_grid": _bool,
}
IGNORED_TAGS = ("outpath_samples", "outpath_grids", "prompt_for_display", "sampler_index")


def parse_line(line: str) -> Dict[str, Any]:
    """A1111's `cmdargs`: `--tag value` pairs; a prompt's words run until the next `--tag`. Raises ValueError."""
    args = shlex.split(line)
    pos, result = 0, {}
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise ValueError(f'must start with "--": {arg}')
        if pos + 1 >= len(args):
            raise ValueError(f"missing argument for command line option {arg}")
        tag = arg[2:]
        if tag in ("prompt", "negative_prompt"):
            pos += 1
            words = [args[pos]]
            pos += 1
            while pos < len(args) and not args[pos].startswith("--"):
                words.append(args[pos])
                pos += 1
            result[tag] = " ".join(words)
            continue
        if tag in IGNORED_TAGS:
            pos += 2
            continue
        if tag not in TAGS:
            raise ValueError(f"unknown commandline option: {arg}")
        result[tag] = TAGS[tag](args[pos + 1])
        pos += 2
    return result


@dataclass
class PromptsFromFileArgs:
    checkbox_iterate: bool = InputField(False, label="Iterate seed every line")
    checkbox_iterate_batch: bool = InputField(False, label="Use same random seed for all lines")
    prompt_position: str = InputField("start", label="Insert prompts at the", choices=("start", "end"),
                                      strict_choices=True)
    prompt_txt: str = InputField("", label="List of prompt inputs", help="one prompt, or one line of options, a line")


class PromptsFromFile(Script):
    title = "Prompts from file or textbox"
    img2img_only = False
    Args = PromptsFromFileArgs

    def check(self, job: Job) -> None:
        if not self.lines():
            raise JobError("Prompts from file or textbox: the list of prompt inputs is empty")

    def lines(self) -> List[str]:
        return [line.strip() for line in self.args.prompt_txt.splitlines() if line.strip()]

    def line_jobs(self, job: Job, context: ScriptContext) -> List[Dict[str, Any]]:
        jobs = []
        for line in self.lines():
            try:
                args = parse_line(line) if "--" in line else {"prompt": line}
            except ValueError as e:
                context.notice(f"Error parsing line {line} as commandline: {e}; used as a prompt")
                args = {"prompt": line}
            if "sd_model" in args:
                args["override_settings"] = dict(job.override_settings, sd_model_checkpoint=args.pop("sd_model"))
            for key, mine in (("prompt", job.prompt), ("negative_prompt", job.negative_prompt)):
                if args.get(key) and mine:
                    start = self.args.prompt_position == "start"
                    args[key] = f"{args[key]} {mine}" if start else f"{mine} {args[key]}"
            jobs.append(args)
        return jobs

    def run(self, job: Job, context: ScriptContext) -> Done:
        a = self.args
        lines = self.line_jobs(job, context)
        seed = job.seed
        if (a.checkbox_iterate or a.checkbox_iterate_batch) and seed == -1:
            seed = int(random.randrange(4294967294))
        context.job_count = sum(args.get("n_iter", job.n_iter) for args in lines)
        images, infotexts, seeds, first = [], [], [], None
        for args in lines:
            line_job = sub_job(job, **dict({"seed": seed, "do_not_save_grid": True}, **args))
            if "styles" in args:
                line_job = context.apply_styles(line_job)
            done = context.process(line_job)
            first = first or done
            images += done.images
            infotexts += done.infotexts
            seeds += done.seeds
            if a.checkbox_iterate:
                seed += job.batch_size * job.n_iter
            if context.interrupted:
                break
        done = combined_done(first, images, infotexts, seeds, context.interrupted)
        done.info["all_prompts"] = [text.split("\n")[0] for text in infotexts]
        return done
