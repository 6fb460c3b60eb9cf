"""Finding, hashing and loading checkpoints: the built-in model, diffusers folders, single-file checkpoints in A1111's
layout (loaded offline with the configs of `model_configs.py`), and hub ids where a network exists."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import torch

from .builtin_model import BUILTIN_PREFIX, BUILTIN_VARIANTS, cache_root, ensure_builtin

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
_hash_lock = threading.Lock()


class ModelLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class CheckpointInfo:
    """One loadable checkpoint, as A1111 lists it: a title, a name and where it lives."""
    name: str  # A1111's model_name: the file or folder name without extension
    title: str  # what the UI and `sd_model_checkpoint` use
    path: str  # a folder, a single file, or a `builtin:` / hub id
    builtin: bool = False

    @property
    def is_file(self) -> bool:
        return not self.builtin and Path(self.path).suffix.lower() in CHECKPOINT_SUFFIXES


def _is_diffusers_folder(path: Path) -> bool:
    return (path / "model_index.json").is_file()


def list_checkpoints(ckpt_dir: Optional[str]) -> List[CheckpointInfo]:
    """Diffusers folders and `.safetensors` / `.ckpt` files under `ckpt_dir` (recursively, A1111's titles: the path
    under the folder), then the built-in models."""
    found: List[CheckpointInfo] = []
    if ckpt_dir and os.path.isdir(ckpt_dir):
        for root, dirs, files in os.walk(ckpt_dir, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            entries = []
            for d in list(dirs):
                path = Path(root) / d
                if _is_diffusers_folder(path):
                    entries.append((d, d, path))
                    dirs.remove(d)  # a model's own subfolders are not models
            entries += [(f, Path(f).stem, Path(root) / f) for f in files
                        if Path(f).suffix.lower() in CHECKPOINT_SUFFIXES and not f.startswith(".")]
            for _, name, path in sorted(entries, key=lambda e: e[0].lower()):
                title = os.path.relpath(path, ckpt_dir)
                sha256 = file_sha256(path, compute=False)  # A1111's "name [hash]" once the file has been hashed
                found.append(CheckpointInfo(name=name, title=f"{title} [{sha256[:10]}]" if sha256 else title,
                                            path=str(path)))
    found += [CheckpointInfo(name=f"builtin-{v}", title=BUILTIN_PREFIX + v, path=BUILTIN_PREFIX + v, builtin=True)
              for v in BUILTIN_VARIANTS]
    return found


def resolve_checkpoint(spec: Optional[str], ckpt_dir: Optional[str], listed_only: bool = False) -> CheckpointInfo:
    """What `--ckpt` names: a `builtin:` model, a title from the list, a folder, or a hub id. With none given, the
    first real checkpoint found, or else the built-in model. `listed_only` (a request's own checkpoint): the list
    alone, and an error that says nothing of the server's files."""
    listed = list_checkpoints(ckpt_dir)
    if not spec:
        return listed[0]
    bare = re.sub(r"\s*\[[0-9a-f]{8,64}\]$", "", spec)  # A1111's "name.safetensors [hash]"
    for info in listed:
        if bare in (info.title, info.name, info.path):
            return info
    if re.fullmatch(r"[0-9a-f]{8,64}", spec):  # a short hash alone, as A1111 accepts it
        for info in listed:
            if (known_hash(info) or "").startswith(spec):
                return info
    if spec.startswith(BUILTIN_PREFIX):
        raise ModelLoadError(f"unknown built-in model {spec!r}; known: "
                             + ", ".join(BUILTIN_PREFIX + v for v in BUILTIN_VARIANTS))
    if listed_only:
        raise ModelLoadError(f"{spec!r} is not one of this server's checkpoints (/sdapi/v1/sd-models lists them)")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not _is_diffusers_folder(path):
            raise ModelLoadError(f"{spec} is a folder but not a diffusers model (no model_index.json)")
        return CheckpointInfo(name=path.name, title=path.name, path=str(path))
    if path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return CheckpointInfo(name=path.stem, title=path.name, path=str(path))
    if path.is_file():
        raise ModelLoadError(f"{spec}: a checkpoint file must be .safetensors or .ckpt")
    if path.exists() or spec.count("/") != 1:
        raise ModelLoadError(f"checkpoint {spec!r} not found (not a folder, a listed title, or a hub id)")
    return CheckpointInfo(name=spec.split("/")[-1], title=spec, path=spec)  # hub id


def weight_files(folder: Path) -> List[Path]:
    return sorted((p for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()),
                  key=lambda p: p.relative_to(folder).as_posix())


def model_hash(path: Path) -> str:
    """A1111's short model hash, sha256[:10] of the weights."""
    return file_sha256(path)[:10]


def file_sha256(path: Path, compute: bool = True) -> Optional[str]:
    """The sha256 of a weights file, or of a folder's weight files in path order. Cached by path, size and
    modification time, as A1111 caches its hashes; with `compute` False, only what the cache knows (or None)."""
    folder = Path(path)
    files = weight_files(folder) if folder.is_dir() else [folder]
    stamp = [[p.relative_to(folder).as_posix() if folder.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime]
             for p in files]
    cache_file = cache_root() / "hashes.json"
    with _hash_lock:
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
        entry = cache.get(str(folder.resolve()))
        if entry and entry.get("stamp") == stamp:
            return entry["sha256"]
        if not compute:
            return None
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
        return digest.hexdigest()


def known_hash(info: CheckpointInfo) -> Optional[str]:
    """The full sha256 of a listed checkpoint if it was computed before (big files are not hashed just to list
    them, as in A1111); the built-in models are small enough to hash now."""
    if info.builtin:
        return file_sha256(ensure_builtin(info.path[len(BUILTIN_PREFIX):]))
    path = Path(info.path)
    return file_sha256(path, compute=False) if path.exists() else None


class ChunkCache:
    """The last things a model's encoders made, so that a job repeating them skips the encoder: the text encoders'
    chunks (the empty negative prompt, a batch's one prompt), the VAE encoder's posteriors (the same init picture
    again). Thread-safe; the oldest go first."""

    def __init__(self, size: int = 64):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


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
    vae_path: Optional[Path] = None  # an external VAE in use (None: the checkpoint's own)
    own_vae: Optional[dict] = None  # the checkpoint's VAE weights, kept while an external one is in use
    _execution_device: object = field(default=None, repr=False, compare=False)
    text_chunks: ChunkCache = field(default_factory=ChunkCache, repr=False, compare=False)
    encodings: ChunkCache = field(default_factory=lambda: ChunkCache(8), repr=False, compare=False)  # latents.posterior

    @property
    def is_inpainting(self) -> bool:
        return self.in_channels == 9

    @property
    def execution_device(self):
        """Where the model runs (with offloading: where its layers are moved to run). Looked up once: diffusers
        walks every module to find it."""
        if self._execution_device is None:
            self._execution_device = self.pipe._execution_device
        return self._execution_device

    @property
    def memory_format(self):
        """The layout the UNet and the VAE run fastest in: channels_last on the CPU (oneDNN's convolutions: 6-10 %
        faster here, and how diffusers' image processor hands pictures to the VAE); the default elsewhere."""
        import torch
        return torch.channels_last if self.execution_device.type == "cpu" else torch.contiguous_format


class _Shape:
    """A tensor's shape without its data (what model-family detection looks at)."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def checkpoint_shapes(path: Path) -> dict:
    """key -> object with `.shape` for a single-file checkpoint. A `.ckpt` pickle must load with
    `weights_only=True`: one that needs code to load is refused."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open
        try:
            with safe_open(str(path), "pt") as f:
                return {k: _Shape(f.get_slice(k).get_shape()) for k in f.keys()}
        except Exception as e:
            raise ModelLoadError(f"{path.name} is not a readable .safetensors file: {e}") from e
    import torch
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelLoadError(f"{path.name} refused: it does not load with weights_only=True (a pickle that needs "
                             f"code to load is not opened); convert it to .safetensors ({e.__class__.__name__})"
                             ) from e
    data = data.get("state_dict", data) if isinstance(data, dict) else {}
    return {k: _Shape(v.shape) for k, v in data.items() if hasattr(v, "shape")}


def detect_family(path: Path) -> str:
    """The model family of a single-file checkpoint, from its weights' names and shapes: a `model_configs` family,
    or `builtin:<variant>` for a file of the built-in model's geometry."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    from .model_configs import FAMILIES

    shapes = checkpoint_shapes(path)
    conv_in = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is None:
        raise ModelLoadError(f"{path.name} is not a Stable Diffusion checkpoint (no model.diffusion_model weights)")
    if conv_in.shape[0] == 32 and not any(k.startswith("conditioner.") for k in shapes):
        # SD's UNets start at 320 channels; the built-in model (SD 1.x-shaped) at 32
        return BUILTIN_PREFIX + ("tiny-inpainting" if conv_in.shape[1] == 9 else "tiny")
    family = infer_diffusers_model_type(shapes)
    if family == "v2":  # v-prediction (the 768 models) is not in the weights: A1111's .yaml, else the name
        yaml = path.with_suffix(".yaml")
        text = yaml.read_text(errors="replace") if yaml.is_file() else ""
        if "parameterization" in text and '"v"' in text or (not text and re.search(r"768|v-?pred", path.name, re.I)):
            family = "v2-v"
    if family not in FAMILIES:
        raise ModelLoadError(f"{path.name}: model type {family!r} is not supported (SD 1.x, 2.x, SDXL and their "
                             "inpainting models are)")
    return family


def _load_single_file(path: Path, dtype):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

    from .model_configs import config_folder

    family = detect_family(path)
    if family.startswith(BUILTIN_PREFIX):
        config = ensure_builtin(family[len(BUILTIN_PREFIX):])
    else:
        config = config_folder(family)
    cls = StableDiffusionXLImg2ImgPipeline if family.startswith("xl") else StableDiffusionImg2ImgPipeline
    extra = {} if family.startswith("xl") else {"safety_checker": None, "requires_safety_checker": False}
    return cls.from_single_file(str(path), config=str(config), local_files_only=True, torch_dtype=dtype, **extra)


def load_model(info: CheckpointInfo, device: str, half: bool, half_vae: bool = True,
               offload: Optional[str] = None) -> LoadedModel:
    """Load a checkpoint's components once, on `device`, fp16 on a GPU unless told otherwise."""
    import torch
    from diffusers import AutoPipelineForImage2Image

    path = str(ensure_builtin(info.path[len(BUILTIN_PREFIX):])) if info.builtin else info.path
    dtype = torch.float16 if half and device != "cpu" else torch.float32
    try:
        if info.is_file:
            pipe = _load_single_file(Path(path), dtype)
        else:
            pipe = AutoPipelineForImage2Image.from_pretrained(path, dtype=dtype, safety_checker=None,
                                                              requires_safety_checker=False)
    except ModelLoadError:
        raise
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
    local = Path(path)
    return LoadedModel(info=info, pipe=pipe, hash=model_hash(local) if local.exists() else None, is_sdxl=is_sdxl,
                       in_channels=pipe.unet.config.in_channels, device=device, dtype=dtype, vae_dtype=vae_dtype)


def accelerate(model: LoadedModel, compile_unet: bool, vae_tiling: bool, cuda_graphs: bool = False) -> None:
    """`compile_unet` (--compile): torch.compile each of the UNet's repeated blocks in place (regional compilation:
    a fraction of the whole UNet's compile time). Each block compiles once per picture size; timesteps, prompts,
    img2img and inpaint at that size reuse it, and inductor keeps what it made on disk under the project's cache
    folder for the next start. `vae_tiling` (--vae-tiling): the VAE encodes and decodes in blended tiles above its
    tile size, so that big pictures fit in a small GPU. `cuda_graphs` (--cuda-graphs, with --compile): each compiled
    block replays as a CUDA graph for its fixed shapes (torch.compile's "reduce-overhead" mode)."""
    if vae_tiling:
        model.pipe.vae.enable_tiling()
    if compile_unet:
        from .builtin_model import cache_root
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
        unet = model.pipe.unet
        for block in [*unet.down_blocks, unet.mid_block, *unet.up_blocks]:
            block.compile(dynamic=False, mode="reduce-overhead" if cuda_graphs else None)


def free_memory() -> None:
    """Give back what a dropped model or a failed job held."""
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def seamless(model: LoadedModel, enabled: bool):
    """A1111's Tiling while the job runs: circular padding in every convolution of the UNet and the VAE, so that the
    picture's edges continue each other."""
    if not enabled:
        yield
        return
    convs = [m for part in (model.pipe.unet, model.pipe.vae) for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [conv.padding_mode for conv in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, before):
            conv.padding_mode = mode
