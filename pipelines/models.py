"""Finding, hashing and loading checkpoints: the built-in model, diffusers folders, and hub ids where a network exists."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from .builtin_model import BUILTIN_PREFIX, BUILTIN_VARIANTS, cache_root, ensure_builtin

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_hash_lock = threading.Lock()


class ModelLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class CheckpointInfo:
    """One loadable checkpoint, as A1111 lists it: a title, a name and where it lives."""
    name: str  # A1111's model_name: the file or folder name without extension
    title: str  # what the UI and `sd_model_checkpoint` use
    path: str  # a folder, or a `builtin:` / hub id
    builtin: bool = False


def _is_diffusers_folder(path: Path) -> bool:
    return (path / "model_index.json").is_file()


def list_checkpoints(ckpt_dir: Optional[str]) -> List[CheckpointInfo]:
    """Diffusers folders under `ckpt_dir` (recursively), then the built-in models."""
    found: List[CheckpointInfo] = []
    if ckpt_dir and os.path.isdir(ckpt_dir):
        for root, dirs, _files in os.walk(ckpt_dir, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for d in list(dirs):
                path = Path(root) / d
                if _is_diffusers_folder(path):
                    rel = os.path.relpath(path, ckpt_dir)
                    found.append(CheckpointInfo(name=d, title=rel, path=str(path)))
                    dirs.remove(d)  # a model's own subfolders are not models
    found += [CheckpointInfo(name=f"builtin-{v}", title=BUILTIN_PREFIX + v, path=BUILTIN_PREFIX + v, builtin=True)
              for v in BUILTIN_VARIANTS]
    return found


def resolve_checkpoint(spec: Optional[str], ckpt_dir: Optional[str]) -> CheckpointInfo:
    """What `--ckpt` names: a `builtin:` model, a title from the list, a folder, or a hub id. With none given, the
    first real checkpoint found, or else the built-in model."""
    listed = list_checkpoints(ckpt_dir)
    if not spec:
        return listed[0]
    for info in listed:
        if spec in (info.title, info.name, info.path):
            return info
    if spec.startswith(BUILTIN_PREFIX):
        raise ModelLoadError(f"unknown built-in model {spec!r}; known: "
                             + ", ".join(BUILTIN_PREFIX + v for v in BUILTIN_VARIANTS))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not _is_diffusers_folder(path):
            raise ModelLoadError(f"{spec} is a folder but not a diffusers model (no model_index.json)")
        return CheckpointInfo(name=path.name, title=path.name, path=str(path))
    if path.suffix in WEIGHT_SUFFIXES:
        raise ModelLoadError(f"{spec}: single-file checkpoints are not supported yet; convert it to a diffusers folder")
    if path.exists() or spec.count("/") != 1:
        raise ModelLoadError(f"checkpoint {spec!r} not found (not a folder, a listed title, or a hub id)")
    return CheckpointInfo(name=spec.split("/")[-1], title=spec, path=spec)  # hub id


def weight_files(folder: Path) -> List[Path]:
    return sorted((p for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()),
                  key=lambda p: p.relative_to(folder).as_posix())


def model_hash(folder: Path) -> str:
    """A1111's short model hash, sha256[:10] of the weights: for a folder, of its weight files in path order.
    Cached by path, size and modification time, as A1111 caches its hashes."""
    files = weight_files(folder)
    stamp = [[p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime] for p in files]
    cache_file = cache_root() / "hashes.json"
    with _hash_lock:
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
        entry = cache.get(str(folder.resolve()))
        if entry and entry.get("stamp") == stamp:
            return entry["sha256"][:10]
        digest = hashlib.sha256()
        for p in files:
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        cache[str(folder.resolve())] = {"stamp": stamp, "sha256": digest.hexdigest()}
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_file)
        except OSError as e:
            log.warning("could not write the hash cache %s: %s", cache_file, e)
        return digest.hexdigest()[:10]


def known_hash(info: CheckpointInfo) -> Optional[str]:
    """The full sha256 of a listed checkpoint if it was computed before (big files are not hashed just to list
    them, as in A1111); the built-in models are small enough to hash now."""
    if info.builtin:
        folder = ensure_builtin(info.path[len(BUILTIN_PREFIX):])
        model_hash(folder)
    else:
        folder = Path(info.path)
    try:
        cache = json.loads((cache_root() / "hashes.json").read_text())
    except (OSError, ValueError):
        return None
    entry = cache.get(str(folder.resolve()))
    return entry["sha256"] if entry else None


@dataclass
class LoadedModel:
    """The components of one loaded checkpoint, shared by img2img and inpainting (nothing is reloaded to switch)."""
    info: CheckpointInfo
    pipe: object  # a diffusers img2img pipeline: its components, prompt encoding and image processor
    hash: Optional[str]
    is_sdxl: bool
    in_channels: int
    device: object
    dtype: object
    vae_dtype: object

    @property
    def is_inpainting(self) -> bool:
        return self.in_channels == 9

    @property
    def execution_device(self):
        return self.pipe._execution_device


def load_model(info: CheckpointInfo, device: str, half: bool, half_vae: bool = True,
               offload: Optional[str] = None) -> LoadedModel:
    """Load a checkpoint's components once, on `device`, fp16 on a GPU unless told otherwise."""
    import torch
    from diffusers import AutoPipelineForImage2Image

    path = str(ensure_builtin(info.path[len(BUILTIN_PREFIX):])) if info.builtin else info.path
    dtype = torch.float16 if half and device != "cpu" else torch.float32
    try:
        pipe = AutoPipelineForImage2Image.from_pretrained(path, dtype=dtype, safety_checker=None,
                                                          requires_safety_checker=False)
    except Exception as e:  # diffusers raises many kinds for a broken or missing model
        raise ModelLoadError(f"could not load checkpoint {info.title!r} from {path}: {e}") from e
    pipe.set_progress_bar_config(disable=True)
    is_sdxl = getattr(pipe, "text_encoder_2", None) is not None
    vae_dtype = dtype
    if dtype == torch.float16 and (not half_vae or pipe.vae.config.get("force_upcast", False)):
        vae_dtype = torch.float32  # A1111's --no-half-vae; SDXL's VAE overflows in fp16
        pipe.vae.to(dtype=vae_dtype)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    folder = Path(path)
    return LoadedModel(info=info, pipe=pipe, hash=model_hash(folder) if folder.is_dir() else None, is_sdxl=is_sdxl,
                       in_channels=pipe.unet.config.in_channels, device=device, dtype=dtype, vae_dtype=vae_dtype)
