"""Workers on Ray (`--ray ADDRESS`): one actor per GPU of the cluster, or `--ray-workers N` CPU actors where there is
none. Each actor has its own model manager, which reads checkpoints, LoRAs, VAEs and embeddings by path on its own
machine (the same A1111 folders), and runs the same pipeline as this process. Its events stream back in order; the
owner's interrupt and skip reach it within a step; the pictures it makes are saved by this server (ServerSaving). An
actor that dies fails the job it ran, with a message that says so, and Ray starts it again for the next job.

Ray is an optional requirement (requirements-ray.txt): this module is imported only with `--ray`."""
from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Set

from .events import FINAL, Control, Done, Failed
from .job import Job, Options
from .job_queue import failure_of
from .model_manager import Folders, ModelManager, Placement
from .models import ModelLoadError, resolve_checkpoint
from .saving import ImageSaver
from .workers import LocalWorker, RayOptions, RemoteFailure, ServerSaving, WorkerLost, WorkerState

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_TIMEOUT_S = 5
RESTART_WAIT_S = 600  # how long a job waits for its worker to come back after Ray restarts it


def start_ray(address: str, cpus: Optional[int] = None) -> None:
    """Connect to the cluster (or start a local instance with `cpus`, listening on 127.0.0.1 only), once per
    process. Its workers find this project's code by path: each machine of a cluster needs it at the same place."""
    import ray
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a LAN server
    config = ray.job_config.JobConfig(code_search_path=[PROJECT_DIR])
    if address == "local":
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 job_config=config, log_to_driver=False)
    else:
        ray.init(address=address, job_config=config, log_to_driver=False)


def start_workers(options: RayOptions, ckpt: Optional[str], folders: Folders, placement: Placement,
                  saver: Optional[ImageSaver], server_checkpoint: Callable[[], Optional[str]]) -> List["RayWorker"]:
    """One actor per GPU of the cluster (or `options.cpu_workers` on the CPU), each with the model loaded: a
    checkpoint that does not load is a ModelLoadError here, before the server starts."""
    try:
        import ray
    except ImportError:
        raise ModelLoadError("--ray needs Ray: pip install -r requirements-ray.txt (./webui.sh --ray installs it)") \
            from None
    start_ray(options.address)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    on_gpus = gpus > 0 and placement.device in (None, "cuda")
    count = gpus if on_gpus else max(1, options.cpu_workers)
    resources = dict(num_gpus=1, num_cpus=1) if on_gpus else dict(num_cpus=options.threads)
    actor_class = ray.remote(WorkerActor).options(max_concurrency=4, max_restarts=-1, max_task_retries=0,
                                                  **resources)
    placement = placement if on_gpus else replace(placement, device="cpu")
    actors = [actor_class.remote(ckpt, folders, placement, options.threads) for _ in range(count)]
    workers = [RayWorker(f"ray-{i + 1}", actor, saver, server_checkpoint) for i, actor in enumerate(actors)]
    for worker in workers:
        try:
            worker.refresh(timeout=None)
        except ray.exceptions.RayError as e:
            raise ModelLoadError(f"Ray worker {worker.name} did not start: {e}") from None
    return workers


class WorkerActor:
    """The Ray actor: a model manager and the pipeline, one job at a time, with interrupt and skip (which run on the
    actor's other threads) reaching the running job."""

    def __init__(self, ckpt: Optional[str], folders: Folders, placement: Placement, threads: int):
        import torch
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if placement.device == "cpu":
            torch.set_num_threads(threads)
        from .face_restoration import FaceRestorers
        from .upscalers import Upscalers
        self.models = ModelManager(ckpt, folders, placement)
        self.local = LocalWorker(self.models, None, Upscalers(folders.models_dir, self.models.device),
                                 FaceRestorers(folders.models_dir, self.models.device))
        self.controls: Dict[int, Control] = {}
        self.stopped_early: Set[int] = set()  # interrupts that came before their job
        self.lock = threading.Lock()

    def state(self) -> WorkerState:
        return WorkerState("", self.models.device, self.models.title, f"{socket.gethostname()} pid {os.getpid()}")

    def pid(self) -> int:
        return os.getpid()

    def run(self, job_id: int, job: Job, options: Options, checkpoint: Optional[str]):
        """The job's events, Done or Failed last (a Ray streaming generator)."""
        with self.lock:
            control = self.controls[job_id] = Control()
            if job_id in self.stopped_early:
                control.interrupted.set()
        events: "queue.Queue" = queue.Queue()
        threading.Thread(target=self.work, args=(job, options, checkpoint, control, events.put), daemon=True,
                         name=f"job-{job_id}").start()
        try:
            while True:
                event = events.get()
                yield event
                if isinstance(event, FINAL):
                    return
        finally:
            with self.lock:
                self.controls.pop(job_id, None)
                self.stopped_early.discard(job_id)

    def work(self, job: Job, options: Options, checkpoint: Optional[str], control: Control, emit) -> None:
        try:
            self.follow_server(checkpoint)
            emit(self.local.process(job, options, control, emit))
        except Exception as e:  # the actor must survive anything a job does
            emit(failure_of(e))

    def follow_server(self, checkpoint: Optional[str]) -> None:
        """The server's checkpoint (its `sd_model_checkpoint` setting), loaded when it changed."""
        if not checkpoint:
            return
        info = resolve_checkpoint(checkpoint, self.models.ckpt_dir)
        if self.models.checkpoint is None or info.path != self.models.checkpoint.path:
            self.models.load(checkpoint)

    def interrupt(self, job_id: int) -> None:
        with self.lock:
            control = self.controls.get(job_id)
            if control is None:
                self.stopped_early.add(job_id)
            else:
                control.interrupted.set()

    def skip(self, job_id: int) -> None:
        with self.lock:
            control = self.controls.get(job_id)
        if control is not None:
            control.skipped.set()


class RayWorker:
    """This server's side of one actor: sends it jobs, saves and passes on what it streams back, forwards the
    owner's interrupt and skip."""
    _ids = itertools.count(1)

    def __init__(self, name: str, actor, saver: Optional[ImageSaver], server_checkpoint: Callable[[], Optional[str]]):
        self.name, self.actor, self.saver, self.server_checkpoint = name, actor, saver, server_checkpoint
        self._state = WorkerState(name, "?", None, "starting")
        self.lost = False  # it died during a job: the next one waits until Ray has started it again

    def refresh(self, timeout: Optional[float] = STATE_TIMEOUT_S) -> WorkerState:
        """Ask the actor what it has loaded (raises what its start-up raised, e.g. a ModelLoadError)."""
        import ray
        try:
            state = ray.get(self.actor.state.remote(), timeout=timeout)
        except ray.exceptions.RayTaskError as e:
            raise e.as_instanceof_cause() from None
        self._state = replace(state, name=self.name)
        return self._state

    def loaded(self) -> Optional[str]:
        return self._state.model

    def state(self) -> WorkerState:
        import ray
        try:
            return self.refresh()
        except (ray.exceptions.RayError, ModelLoadError) as e:
            return replace(self._state, where=f"unavailable ({e.__class__.__name__})")

    def holding_switches(self):
        return contextlib.nullcontext()

    def process(self, job: Job, options: Options, control: Control, emit) -> Done:
        import ray
        self.wait_until_up()
        job_id, checkpoint = next(self._ids), self.server_checkpoint()
        saving = ServerSaving(self.saver, options, job, emit)
        stream = self.actor.run.options(num_returns="streaming").remote(job_id, job, options, checkpoint)
        finished = threading.Event()
        threading.Thread(target=self.forward_control, args=(job_id, control, finished), daemon=True,
                         name=f"{self.name}-control").start()
        try:
            for ref in stream:
                event = ray.get(ref)
                if isinstance(event, Failed):
                    raise RemoteFailure(event)
                if isinstance(event, Done):
                    # the actor followed the server's checkpoint, and loads it back after a job's own
                    self._state = replace(self._state, model=checkpoint or self._state.model)
                    return saving.finish(event)
                saving.emit(event)
        except ray.exceptions.RayActorError as e:
            self.lost = True
            raise WorkerLost(f"worker {self.name} stopped during the job ({e.__class__.__name__}); nothing more came "
                             f"of it. Ray starts the worker again for the next job.") from None
        finally:
            finished.set()
            saving.wait()
        raise WorkerLost(f"worker {self.name} ended the job without a result")

    def wait_until_up(self) -> None:
        """After the actor died: until Ray has started it again (and it has loaded its model)."""
        import ray
        deadline = time.monotonic() + RESTART_WAIT_S
        while self.lost:
            try:
                self.refresh(timeout=RESTART_WAIT_S)
                self.lost = False
            except ray.exceptions.RayActorError as e:
                if time.monotonic() > deadline:
                    raise WorkerLost(f"worker {self.name} has not come back ({e.__class__.__name__})") from None
                time.sleep(0.5)

    def forward_control(self, job_id: int, control: Control, finished: threading.Event) -> None:
        """The owner's interrupt and skip, passed on within 20 ms (a step takes longer)."""
        interrupted = False
        while not finished.wait(0.02):
            if control.interrupted.is_set() and not interrupted:
                self.actor.interrupt.remote(job_id)
                interrupted = True
            if control.skipped.is_set():
                control.skipped.clear()
                self.actor.skip.remote(job_id)

    def close(self) -> None:
        import ray
        with contextlib.suppress(Exception):
            ray.kill(self.actor)
