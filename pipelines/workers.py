"""Workers: what runs a job's pipeline, on one loaded model on one device, one job at a time. The queue
(job_queue.py) hands each job to an idle worker. The LocalWorker runs in this process: the default, for one device.
A RayWorker (ray_workers.py) drives a Ray actor on another GPU or machine; the pictures it makes are saved here, by
`ServerSaving`, where users look for them."""
from __future__ import annotations

import dataclasses
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, ContextManager, List, Optional

from .events import Control, Done, Failed, Result
from .imageops import image_grid
from .job import Job, Options
from .model_manager import ModelManager
from .pipeline import Img2ImgPipeline, saves_grid, saves_samples
from .saving import ImageSaver

Emit = Callable[[object], None]


class WorkerLost(RuntimeError):
    """The worker running a job died (its process was killed, its machine went away): the job fails with this."""


class RemoteFailure(Exception):
    """A remote worker's job failed there: `failed` is its Failed event, passed on to the job's owner as it is."""

    def __init__(self, failed: Failed):
        super().__init__(failed.error)
        self.failed = failed


@dataclass(frozen=True)
class RayOptions:
    """`--ray ADDRESS` and `--ray-workers N`: where the Ray cluster is ("local" starts one in this process, "auto"
    finds the one `ray start` made, or a cluster's address), and how many CPU workers where there is no GPU."""
    address: str = "local"
    cpu_workers: int = 1
    threads: int = 1  # torch threads of each CPU worker


@dataclass
class WorkerState:
    """What an admin sees of a worker."""
    name: str
    device: str
    model: Optional[str]  # the loaded checkpoint's title
    where: str = "this process"


def names_checkpoint(wanted: Optional[str], title: Optional[str]) -> bool:
    """Whether a checkpoint named in a job (a title, with or without its " [hash]", or a file name) is `title`."""
    if not wanted or not title:
        return False
    plain = title.split(" [")[0]
    return wanted in (title, plain) or plain.rsplit("/", 1)[-1] == wanted


class LocalWorker:
    """The pipeline in this process, on the model manager's device; results saved by `saver` as they come."""

    def __init__(self, models: ModelManager, saver: Optional[ImageSaver], upscalers, face_restorers,
                 name: str = "local"):
        self.models, self.saver, self.name = models, saver, name
        self.upscalers, self.face_restorers = upscalers, face_restorers

    def loaded(self) -> Optional[str]:
        return self.models.title

    def state(self) -> WorkerState:
        return WorkerState(self.name, self.models.device, self.models.title)

    def process(self, job: Job, options: Options, control: Control, emit: Emit) -> Done:
        with self.models.for_job(job, emit) as model:
            pipeline = Img2ImgPipeline(model, options, self.saver, self.models.library, self.upscalers,
                                       self.face_restorers)
            return pipeline(job, control, emit)

    def holding_switches(self) -> ContextManager:
        """While a script runs: the checkpoints its Jobs switch to stay loaded until it ends (model_manager.py)."""
        return self.models.holding_switches()

    def close(self) -> None:
        pass


class ServerSaving:
    """Saves here what a remote worker made, as the pipeline saves its own pictures: each Result written by the
    saver's writer thread, in order, and passed on with its path once the file exists; the grid with the Done."""

    def __init__(self, saver: Optional[ImageSaver], options: Options, job: Job, emit: Emit):
        self.saver, self.job, self.emit_on = saver, job, emit
        self.opts = options.with_overrides(job.override_settings)
        self.writes: List[futures.Future] = []

    def emit(self, event) -> None:
        if isinstance(event, Result) and event.path is None and saves_samples(self.saver, self.opts, self.job):
            self.writes.append(self.saver.save_sample_later(
                event.image, event.seed, event.infotext, self.opts.save_format(),
                lambda path: self.emit_on(dataclasses.replace(event, path=path))))
        else:
            self.emit_on(event)

    def wait(self) -> None:
        futures.wait(self.writes)

    def finish(self, done: Done) -> Done:
        """The Done, once every picture is written (a write error fails the job), with the grid saved."""
        for write in self.writes:
            write.result()
        if len(done.images) > 1 and saves_grid(self.saver, self.opts, self.job):
            grid = done.grid if done.grid is not None else image_grid(done.images)
            path = self.saver.save_grid(grid, done.infotexts[0], self.opts.save_format(grid=True))
            done = dataclasses.replace(done, grid=grid, grid_path=path)
        return done
