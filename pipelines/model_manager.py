"""The model manager: which checkpoints there are, the one loaded model (load, switch for a job and back, unload),
and the user's LoRA / VAE / embedding folders."""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from .cpu_memory import keep_freed_memory
from .events import Notice
from .job import Job, JobError
from .models import (CheckpointInfo, LoadedModel, ModelLoadError, accelerate, free_memory, known_hash,
                     list_checkpoints, load_model, resolve_checkpoint)
from .networks import Embedding, Library, text_encoder_dims

log = logging.getLogger(__name__)

BUILTIN_NOTICE = ("Using the built-in tiny model: its weights are random, so its pictures are noise. "
                  "Put a checkpoint (.safetensors, or a diffusers folder) under {where} or pass --ckpt to use a "
                  "real one.")


@dataclass(frozen=True)
class Folders:
    """Where the user's files are: A1111's folders, the styles file and the output root."""
    ckpt_dir: Optional[str] = "models/Stable-diffusion"
    lora_dir: Optional[str] = None
    embeddings_dir: Optional[str] = None
    vae_dir: Optional[str] = None
    styles_file: Optional[str] = None
    outdir: Optional[str] = "outputs"
    models_dir: Optional[str] = "models"  # A1111's models folder: upscalers under ESRGAN/, RealESRGAN/, SwinIR/, ...


@dataclass(frozen=True)
class Placement:
    """Where and how the model runs: the device, half precision, offloading ("model", "sequential" or None), the
    UNet's blocks compiled, the VAE tiled."""
    device: Optional[str] = None
    half: bool = True
    half_vae: bool = True
    offload: Optional[str] = None
    compile: bool = False
    cuda_graphs: bool = False  # with compile: CUDA graphs for each fixed shape (torch.compile's "reduce-overhead")
    vae_tiling: bool = False


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


class ModelManager:
    def __init__(self, ckpt: Optional[str], folders: Folders, placement: Placement = Placement()):
        self.ckpt_dir = folders.ckpt_dir
        self.library = Library(folders.lora_dir, folders.embeddings_dir, folders.vae_dir)
        self.placement = placement
        self.device = pick_device(placement.device)
        if self.device == "cpu":
            keep_freed_memory()
        self.model: Optional[LoadedModel] = None  # None while unloaded
        self.checkpoint: Optional[CheckpointInfo] = None  # what is (or will be) loaded
        self.notices: List[str] = []
        self._lock = threading.Lock()  # held while a job runs or a model loads
        self._holding = False  # a script runs: checkpoints its Jobs switch to stay until it ends
        self._held_original: Optional[CheckpointInfo] = None  # the server's checkpoint, to load back then
        self.load(ckpt)

    # -- checkpoints ---------------------------------------------------------------------------------------------------

    def checkpoints(self) -> List[CheckpointInfo]:
        return list_checkpoints(self.ckpt_dir)

    def titles(self) -> List[str]:
        return [c.title for c in self.checkpoints()]

    @property
    def title(self) -> Optional[str]:
        return self.checkpoint.title if self.checkpoint else None

    def load(self, spec: Optional[str]) -> CheckpointInfo:
        """Load a checkpoint (waits for the running job); raises ModelLoadError with the reason."""
        info = resolve_checkpoint(spec, self.ckpt_dir)
        with self._lock:
            return self._load(info).info

    def load_by_hash(self, short_hash: str) -> None:
        """The listed checkpoint whose hash starts with `short_hash` (PNG info's "Model hash"), if not loaded."""
        if self.model is not None and self.model.hash == short_hash:
            return
        for info in self.checkpoints():
            if (known_hash(info) or "")[:10] == short_hash:
                self.load(info.title)
                return

    def unload(self) -> None:
        """Free the model's memory; the next job loads it again."""
        with self._lock:
            self.model = None
            free_memory()

    def reload(self) -> CheckpointInfo:
        with self._lock:
            self.model = None
            free_memory()
            return self._load(self.checkpoint).info

    def _load(self, info: CheckpointInfo) -> LoadedModel:
        """Called with the lock held."""
        if self.model is not None and self.model.info.path == info.path:
            return self.model
        self.model = None  # free the old weights before loading the new ones
        p = self.placement
        self.model = load_model(info, self.device, p.half, p.half_vae, p.offload)
        accelerate(self.model, p.compile, p.vae_tiling, p.cuda_graphs)
        if not info.builtin and self.model.hash and not info.title.endswith("]"):  # hashed now: A1111's title
            info = next((c for c in self.checkpoints() if c.path == info.path), info)
            self.model.info = info
        self.checkpoint = info
        where = self.ckpt_dir or "a folder named by --ckpt-dir"
        self.notices = [BUILTIN_NOTICE.format(where=where)] if info.builtin else []
        for notice in self.notices:
            log.warning(notice)
        log.info("Loaded %s (%s) on %s", info.title, self.model.hash, self.device)
        return self.model

    @contextlib.contextmanager
    def for_job(self, job: Job, emit: Callable[[object], None]) -> Iterator[LoadedModel]:
        """The model a job runs on, held for it: its `override_settings.sd_model_checkpoint` loaded for it, and the
        server's model loaded back after (A1111's override_settings_restore_afterwards)."""
        for notice in self.notices:
            emit(Notice(notice))
        with self._lock:
            if self._holding and self._held_original is not None and \
                    not job.override_settings.get("sd_model_checkpoint"):
                self._restore(self._held_original)  # a script's Job without a checkpoint of its own: the server's
                self._held_original = None
            previous = self._switch_for(job, emit)
            try:
                yield self.model or self._load(self.checkpoint)
            finally:
                if previous is not None and not self._holding:
                    self._restore(previous)
                elif previous is not None and self._held_original is None:
                    self._held_original = previous

    @contextlib.contextmanager
    def holding_switches(self) -> Iterator[None]:
        """While a script runs: a checkpoint its Jobs switch to stays loaded from one Job to the next (an X/Y/Z plot
        loads each once), and the server's comes back when the script ends."""
        self._holding, self._held_original = True, None
        try:
            yield
        finally:
            original, self._holding, self._held_original = self._held_original, False, None
            if original is not None and (self.checkpoint is None or self.checkpoint.path != original.path):
                with self._lock:
                    self._restore(original)

    def _switch_for(self, job: Job, emit) -> Optional[CheckpointInfo]:
        wanted = job.override_settings.get("sd_model_checkpoint")
        if not wanted:
            return None
        try:
            info = resolve_checkpoint(str(wanted), self.ckpt_dir, listed_only=True)
        except ModelLoadError as e:
            raise JobError(f"sd_model_checkpoint: {e}") from None
        if self.checkpoint is not None and info.path == self.checkpoint.path and self.model is not None:
            return None
        previous = self.checkpoint
        self._load(info)
        emit(Notice(f"Loaded {info.title} for this request"))
        return previous

    def _restore(self, previous: CheckpointInfo) -> None:
        try:
            self._load(previous)
        except ModelLoadError as e:
            log.error("could not load %s back after a request's own checkpoint: %s", previous.title, e)

    # -- the user's LoRAs, VAEs and embeddings -------------------------------------------------------------------------

    def loras(self) -> Dict[str, Path]:
        return self.library.loras.available()

    def vaes(self) -> Dict[str, Path]:
        return self.library.vaes()

    def vae_choices(self) -> List[str]:
        return ["Automatic", "None"] + list(self.vaes())

    def check_vae(self, choice: str) -> None:
        """A JobError naming an `sd_vae` value that no file answers to."""
        if self.checkpoint is not None:
            self.library.resolve_vae(choice, self.checkpoint)

    def embeddings(self) -> Tuple[Dict[str, Embedding], Dict[str, Embedding]]:
        """(the embeddings the loaded model can use, the others); all are "skipped" while no model is loaded."""
        model = self.model
        return self.library.embeddings.split(text_encoder_dims(model.pipe) if model is not None else [])
