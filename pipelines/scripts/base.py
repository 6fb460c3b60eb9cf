"""What a script is: a pipeline around the core's `Job`. It has A1111's title, its arguments declared once in A1111's
positional order (so that API callers' `script_args` mean what they mean in A1111), and `run(job, context)`, which
makes Jobs, runs them through the context (on the same queue entry: one progress bar across all of them, interrupt and
skip reaching each) and combines their pictures."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence

from PIL import Image

from ..events import Control, Done, Notice, Progress, Result
from ..job import Job, JobError, Options
from ..params import Param, ParamError, check_declared, declared
from ..saving import ImageSaver
from ..upscalers import Upscalers

Emit = Callable[[object], None]
Process = Callable[[Job, Emit], Done]


class Script:
    title: ClassVar[str]
    Args: ClassVar[type]  # a dataclass of InputFields, in A1111's order of `script_args`
    img2img_only: ClassVar[bool] = True  # else also a txt2img script

    def __init__(self, args):
        self.args = args

    @classmethod
    def key(cls) -> str:
        return cls.title.lower()

    @classmethod
    def params(cls) -> Dict[str, Param]:
        return declared(cls.Args)

    @classmethod
    def parse(cls, values: Sequence[Any]) -> "Script":
        """The script with A1111's positional `script_args` (missing ones and None take the defaults); a JobError
        names the argument that does not fit."""
        params = cls.params()
        values = list(values or [])
        if len(values) > len(params):
            raise JobError(f"script_args: {cls.title} takes {len(params)} arguments "
                           f"({', '.join(p.label for p in params.values())}), not {len(values)}")
        kwargs = {}
        for i, (name, param) in enumerate(params.items()):
            value = values[i] if i < len(values) else None
            kwargs[name] = _default(param) if value is None and not param.optional else coerce(param, value)
        args = cls.Args(**kwargs)
        try:
            check_declared(args)
        except ParamError as e:
            raise JobError(f"script_args of {cls.title}: {e}") from None
        return cls(args)

    def check(self, job: Job) -> None:
        """Raise a JobError when the job cannot run with this script (checked when the job is submitted); a selectable
        script adds `run(job, context) -> Done`, an always-on one hooks the pipeline's steps instead."""


def _default(param: Param) -> Any:
    return type(param.default)(param.default) if isinstance(param.default, (list, dict)) else param.default


def coerce(param: Param, value: Any) -> Any:
    """A value as API clients send it (numbers as strings, "true", an index for a word) in the argument's type;
    what cannot be converted is left for the check to name."""
    try:
        if param.type is bool and isinstance(value, str):
            return {"true": True, "false": False}.get(value.strip().lower(), value)
        if param.is_integer and isinstance(value, str) and value in param.choice_list():
            return list(param.choice_list()).index(value)
        if param.is_integer and isinstance(value, (str, float)) and not isinstance(value, bool):
            number = float(value)
            return int(number) if number.is_integer() else number
        if param.type is float and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
        if param.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(int(value)) if float(value).is_integer() else str(value)
        if param.type is list and isinstance(value, str):
            return [value]
        if param.type is str and param.choices and not callable(param.choices) and isinstance(value, str):
            return {c.lower(): c for c in param.choice_list()}.get(value.lower(), value)
    except ValueError:
        return value
    return value


class ScriptContext:
    """What a running script is handed: `process(job)` runs one Job of it (its progress counted into the script's,
    its pictures streamed), `show` saves and streams a picture the script made, and the settings and upscalers."""

    def __init__(self, process: Process, control: Control, emit: Emit, options: Options,
                 saver: Optional[ImageSaver], upscalers: Optional[Upscalers], apply_styles: Callable[[Job], Job]):
        self._process, self.control, self._emit = process, control, emit
        self.options, self.saver, self.upscalers, self.apply_styles = options, saver, upscalers, apply_styles
        self.job_count = 1  # batches of pictures the whole script runs, for the progress bar
        self._batches_done = 0
        self._shown = 0
        self._told: set = set()

    @property
    def interrupted(self) -> bool:
        return self.control.interrupted.is_set()

    def notice(self, message: str) -> None:
        self._emit(Notice(message))

    def process(self, job: Job, stream: bool = True) -> Done:
        """Run one Job; its pictures go to the gallery (and are saved, by its own settings) when `stream`."""
        offset = self._batches_done

        def relay(event):
            if isinstance(event, Progress):
                event = dataclasses.replace(event, job_no=offset + event.job_no,
                                            job_count=max(self.job_count, offset + event.job_count))
            elif isinstance(event, Result):
                if not stream:
                    return
                event = dataclasses.replace(event, index=self._shown)
                self._shown += 1
            elif isinstance(event, Notice):
                if event.message in self._told:  # the same note from each Job of the script: once is enough
                    return
                self._told.add(event.message)
            self._emit(event)

        done = self._process(job, relay)
        self._batches_done += job.n_iter
        return done

    def show(self, job: Job, image: Image.Image, infotext: str, seed: int, grid: bool = False) -> None:
        """Save a picture the script made (a combined picture as a sample, else a grid), as the settings and the
        job say, and stream it."""
        image.info["parameters"] = infotext
        path = None
        if self.saver is not None and not job.do_not_save_samples:
            if grid and self.options.grid_save and not job.do_not_save_grid:
                path = self.saver.save_grid(image, infotext, self.options.save_format(grid=True))
            elif not grid and self.options.samples_save:
                path = self.saver.save_sample(image, seed, infotext, self.options.save_format())
        self._emit(Result(image=image, infotext=infotext, seed=seed, index=self._shown, path=path))
        self._shown += 1


def sub_job(job: Job, **changes) -> Job:
    """A Job of a script: the script's job with `changes`, and no script of its own."""
    return dataclasses.replace(job, script_name=None, script_args=[], **changes)


def combined_done(first: Optional[Done], images: List[Image.Image], infotexts: List[str], seeds: List[int],
                  interrupted: bool = False, grids: int = 0) -> Done:
    """A script's result: its pictures (grids first), with the first Job's A1111 info updated for them (no Job
    done: interrupted before the first one ended)."""
    base = first.info if first is not None else {}
    info = dict(base, infotexts=infotexts, all_seeds=seeds, index_of_first_image=grids)
    if seeds:
        info["seed"] = seeds[0]
    subseeds = list(first.subseeds[:1]) * len(images) if first is not None else []
    return Done(images=images, infotexts=infotexts, seeds=seeds, subseeds=subseeds, info=info,
                interrupted=interrupted or first is None)
