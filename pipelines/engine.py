"""The engine: one loaded model, one worker thread that owns it, and a queue of jobs.

The web layers never run a model themselves: they `submit` a Job and read its events from the returned handle.
Each handle is its owner's alone: its progress, previews, results, interrupt and skip touch no other job.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import traceback
from typing import Iterator, List, Optional

from .conditioning import prompt_token_count
from .imageops import ImageInputError
from .job import Done, Failed, Job, JobError, Notice, Options, Queued
from .models import CheckpointInfo, LoadedModel, ModelLoadError, list_checkpoints, load_model, resolve_checkpoint
from .networks import Library, text_encoder_dims
from .processing import Control, process_job
from .prompts import StyleDatabase, UnknownStyleError
from .samplers import UnknownSamplerError
from .saving import ImageSaver

log = logging.getLogger(__name__)

BUILTIN_NOTICE = ("Using the built-in tiny model: its weights are random, so its pictures are noise. "
                  "Put a checkpoint (.safetensors, or a diffusers folder) under {ckpt_dir} or pass --ckpt to use a "
                  "real one.")


def pick_device(requested: Optional[str] = None) -> str:
    """--device, else CUDA when present, then MPS, then the CPU."""
    import torch
    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class JobHandle:
    """One submitted job: iterate it for its events (Queued, Progress, Notice, Result, then Done or Failed)."""

    def __init__(self, job: Job, owner: Optional[str] = None):
        self.job = job
        self.owner = owner
        self.control = Control()
        self.events: "queue.Queue[object]" = queue.Queue()
        self.finished = threading.Event()
        self.result: Optional[object] = None  # the closing Done or Failed

    def interrupt(self) -> None:
        self.control.interrupted.set()

    def skip(self) -> None:
        self.control.skipped.set()

    def emit(self, event: object) -> None:
        self.events.put(event)
        if isinstance(event, (Done, Failed)):
            self.result = event
            self.finished.set()

    def __iter__(self) -> Iterator[object]:
        while True:
            event = self.events.get()
            yield event
            if isinstance(event, (Done, Failed)):
                return


class Engine:
    """Holds the model and runs jobs one at a time on its worker thread, in the order they were submitted."""

    def __init__(self, ckpt: Optional[str] = None, ckpt_dir: Optional[str] = "models/Stable-diffusion",
                 outdir: Optional[str] = "outputs", device: Optional[str] = None, half: bool = True,
                 half_vae: bool = True, offload: Optional[str] = None, options: Optional[Options] = None,
                 lora_dir: Optional[str] = None, embeddings_dir: Optional[str] = None, vae_dir: Optional[str] = None,
                 styles_file: Optional[str] = None):
        self.ckpt_dir = ckpt_dir
        self.library = Library(lora_dir, embeddings_dir, vae_dir)
        self.styles = StyleDatabase(styles_file)
        self.device = pick_device(device)
        self.half, self.half_vae, self.offload = half, half_vae, offload
        self.options = options or Options()
        self.saver = ImageSaver(outdir) if outdir else None
        self.notices: List[str] = []
        self.model: Optional[LoadedModel] = None  # None while unloaded
        self.checkpoint: Optional[CheckpointInfo] = None  # what is (or will be) loaded
        self._model_lock = threading.Lock()  # held while a job runs or a model loads
        self._waiting: List[JobHandle] = []
        self._waiting_lock = threading.Condition()
        self._current: Optional[JobHandle] = None
        self._closed = False
        self.load_checkpoint(ckpt)
        self._worker = threading.Thread(target=self._work, name="engine-worker", daemon=True)
        self._worker.start()

    # -- models --------------------------------------------------------------------------------------------------------

    def checkpoints(self) -> List[CheckpointInfo]:
        return list_checkpoints(self.ckpt_dir)

    def load_checkpoint(self, spec: Optional[str]) -> LoadedModel:
        """Load a checkpoint (waits for the running job); raises ModelLoadError with the reason."""
        info = resolve_checkpoint(spec, self.ckpt_dir)
        with self._model_lock:
            return self._load(info)

    def unload_checkpoint(self) -> None:
        """Free the model's memory; the next job loads it again."""
        with self._model_lock:
            self.model = None
            _free_memory()

    def reload_checkpoint(self) -> LoadedModel:
        with self._model_lock:
            self.model = None
            _free_memory()
            return self._load(self.checkpoint)

    def _load(self, info: CheckpointInfo) -> LoadedModel:
        """Called with the model lock held."""
        if self.model is not None and self.model.info.path == info.path:
            return self.model
        self.model = None  # free the old weights before loading the new ones
        self.model = load_model(info, self.device, self.half, self.half_vae, self.offload)
        if not info.builtin and self.model.hash and not info.title.endswith("]"):  # hashed now: A1111's title
            info = next((c for c in self.checkpoints() if c.path == info.path), info)
            self.model.info = info
        self.checkpoint = info
        if info.builtin:
            notice = BUILTIN_NOTICE.format(ckpt_dir=self.ckpt_dir)
            log.warning(notice)
            self.notices = [notice]
        else:
            self.notices = []
        log.info("Loaded %s (%s) on %s", info.title, self.model.hash, self.device)
        return self.model

    # -- jobs ----------------------------------------------------------------------------------------------------------

    def submit(self, job: Job, owner: Optional[str] = None) -> JobHandle:
        """Queue a job; a job that cannot run fails at once, without waiting in the queue."""
        try:
            job.validate()
            job = self.apply_styles(job)
        except (JobError, UnknownStyleError) as e:
            handle = JobHandle(job, owner)
            handle.emit(Failed(str(e), invalid=True))
            return handle
        handle = JobHandle(job, owner)
        with self._waiting_lock:
            if self._closed:
                handle.emit(Failed("the server is shutting down"))
                return handle
            ahead = len(self._waiting) + (1 if self._current is not None else 0)
            self._waiting.append(handle)
            self._waiting_lock.notify()
        handle.emit(Queued(ahead))
        return handle

    def apply_styles(self, job: Job) -> Job:
        """The job with its styles merged into its prompts (A1111's `{prompt}` placeholder, else ", ")."""
        if not job.styles:
            return job
        prompt, negative_prompt = self.styles.apply(job.prompt, job.negative_prompt, job.styles)
        return dataclasses.replace(job, prompt=prompt, negative_prompt=negative_prompt)

    def count_tokens(self, prompt: str, steps: int = 20) -> tuple:
        """(tokens, chunk size) for the UI's counter; (0, 75) while no model is loaded."""
        model = self.model
        if model is None:
            return 0, 75
        embeddings, _ = self.library.embeddings.split(text_encoder_dims(model.pipe))
        return prompt_token_count(model, prompt or "", max(1, int(steps)), self.options.emphasis, embeddings)

    def run(self, job: Job, owner: Optional[str] = None) -> Iterator[object]:
        """Submit a job and yield its events until it ends."""
        yield from self.submit(job, owner)

    def queue_length(self) -> int:
        with self._waiting_lock:
            return len(self._waiting) + (1 if self._current is not None else 0)

    def current(self) -> Optional[JobHandle]:
        return self._current

    def interrupt(self, owner: Optional[str] = None) -> None:
        """Interrupt the running job (only if it is `owner`'s, when an owner is given)."""
        current = self._current
        if current is not None and (owner is None or current.owner == owner):
            current.interrupt()

    def skip(self, owner: Optional[str] = None) -> None:
        current = self._current
        if current is not None and (owner is None or current.owner == owner):
            current.skip()

    def close(self) -> None:
        with self._waiting_lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            self._waiting_lock.notify_all()
        for handle in waiting:
            handle.emit(Failed("the server is shutting down"))
        if self._current is not None:
            self._current.interrupt()
        self._worker.join(timeout=30)

    def _work(self) -> None:
        while True:
            with self._waiting_lock:
                while not self._waiting and not self._closed:
                    self._waiting_lock.wait()
                if self._closed:
                    return
                handle = self._waiting.pop(0)
                self._current = handle
                for position, waiting in enumerate(self._waiting):
                    waiting.emit(Queued(position + 1))
            try:
                self._run_one(handle)
            finally:
                with self._waiting_lock:
                    self._current = None

    def _run_one(self, handle: JobHandle) -> None:
        if handle.control.interrupted.is_set():
            handle.emit(Failed("interrupted before it started"))
            return
        for notice in self.notices:
            handle.emit(Notice(notice))
        try:
            with self._model_lock:
                previous = self._switch_for(handle)
                try:
                    model = self.model or self._load(self.checkpoint)
                    done: Done = process_job(handle.job, model, self.options, self.saver, handle.control,
                                             handle.emit, self.library)
                finally:
                    if previous is not None:  # A1111's override_settings_restore_afterwards
                        self._restore(previous)
            handle.emit(done)
        except (JobError, ImageInputError, UnknownSamplerError, UnknownStyleError) as e:
            handle.emit(Failed(str(e), invalid=True))
        except ModelLoadError as e:
            handle.emit(Failed(str(e)))
        except Exception as e:  # the worker must survive anything a job does
            log.error("job failed:\n%s", traceback.format_exc())
            handle.emit(Failed(_describe_failure(e)))
            _free_memory()

    def _switch_for(self, handle: JobHandle) -> Optional[CheckpointInfo]:
        """A job's `override_settings.sd_model_checkpoint`: load that model for it; the model to go back to after."""
        wanted = handle.job.override_settings.get("sd_model_checkpoint")
        if not wanted:
            return None
        try:
            info = resolve_checkpoint(str(wanted), self.ckpt_dir)
        except ModelLoadError as e:
            raise JobError(f"sd_model_checkpoint: {e}") from None
        if self.checkpoint is not None and info.path == self.checkpoint.path and self.model is not None:
            return None
        previous = self.checkpoint
        self._load(info)
        handle.emit(Notice(f"Loaded {info.title} for this request"))
        return previous

    def _restore(self, previous: CheckpointInfo) -> None:
        try:
            self._load(previous)
        except ModelLoadError as e:
            log.error("could not load %s back after a request's own checkpoint: %s", previous.title, e)


def _describe_failure(error: Exception) -> str:
    if "out of memory" in str(error).lower():
        return ("out of memory: try a smaller size or batch, 'Only masked' inpainting, or --medvram / --lowvram "
                f"({error.__class__.__name__})")
    return f"{error.__class__.__name__}: {error}"


def _free_memory() -> None:
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
