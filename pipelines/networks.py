"""What A1111 users keep next to their checkpoints: LoRAs (`models/Lora`), textual-inversion embeddings
(`embeddings/`) and VAEs (`models/VAE`). Files are read with safetensors, or `torch.load(weights_only=True)`; a pickle
that needs more than that is refused.

LoRAs are merged into the loaded weights for one job and the saved weights put back after it (A1111's way), so the
model is bit-for-bit unchanged afterwards and no PEFT layers are added. Keys in kohya's format (`lora_unet_...`,
`lora_te_...`, including SDXL's LDM names) and diffusers/PEFT's (`unet....lora_A.weight`) are understood.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .job import JobError
from .ldm_layout import unet_ldm_name
from .models import CheckpointInfo, LoadedModel, ModelLoadError, file_sha256

log = logging.getLogger(__name__)

NETWORK_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")
LORA_CACHE_SIZE = 4  # LoRA files kept read between jobs


def list_files(folder: Optional[str], suffixes=NETWORK_SUFFIXES) -> Dict[str, Path]:
    """name (file name without extension) -> path, for the files under `folder`, recursively, sorted by name."""
    found: Dict[str, Path] = {}
    if folder and os.path.isdir(folder):
        for path in sorted(Path(folder).rglob("*"), key=lambda p: p.as_posix().lower()):
            if path.suffix.lower() in suffixes and path.is_file() and not path.name.startswith("."):
                found.setdefault(path.stem, path)
    return found


def read_tensors(path: Path) -> Dict[str, object]:
    """A weights file's contents: safetensors, or a pickle loaded with `weights_only=True` (refused otherwise)."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt file, or a pickle with code in it
        raise ModelLoadError(f"cannot read {path.name}: {e.__class__.__name__}: {e}"[:500]) from e


def short_hash(path: Path) -> str:
    """A1111's short hash of a LoRA or embedding: sha256[:12] (cached like the model hashes)."""
    return file_sha256(path)[:12]


# ---------------------------------------------------------------------------------------------------------------------
# textual inversion

@dataclass
class Embedding:
    name: str
    path: Path
    tensors: List[torch.Tensor]  # [vectors, dim] each; SDXL files have one per text encoder
    step: Optional[int] = None
    checkpoint: Optional[str] = None
    checkpoint_name: Optional[str] = None

    @property
    def vectors(self) -> int:
        return self.tensors[0].shape[0]

    @property
    def shape(self) -> int:
        return self.tensors[0].shape[-1]

    def for_encoder(self, k: int, dim: int) -> torch.Tensor:
        """The vectors for text encoder k (SDXL files: clip_l, then clip_g) of width `dim`."""
        if k < len(self.tensors) and self.tensors[k].shape[-1] == dim:
            return self.tensors[k]
        for tensor in self.tensors:
            if tensor.shape[-1] == dim:
                return tensor
        raise JobError(f"embedding {self.name} has no vectors of width {dim}")

    def fits(self, dims: List[int]) -> bool:
        return all(any(t.shape[-1] == d for t in self.tensors) for d in dims) and \
            len({t.shape[0] for t in self.tensors}) == 1


def read_embedding(path: Path) -> Embedding:
    data = read_tensors(path)
    tensors: List[torch.Tensor]
    if "string_to_param" in data:  # A1111's .pt
        tensors = [next(iter(data["string_to_param"].values()))]
    elif "clip_l" in data or "clip_g" in data:  # SDXL
        tensors = [data[k] for k in ("clip_l", "clip_g") if k in data]
    elif "emb_params" in data:
        tensors = [data["emb_params"]]
    else:  # diffusers' learned_embeds: {token: vector}
        tensors = [v for v in data.values() if isinstance(v, torch.Tensor)][:1]
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ModelLoadError(f"{path.name} is not a textual-inversion embedding")
    tensors = [(t[None] if t.dim() == 1 else t.reshape(-1, t.shape[-1])).detach().float() for t in tensors]
    step = data.get("step") if isinstance(data.get("step"), int) else None
    ckpt = data.get("sd_checkpoint") if isinstance(data.get("sd_checkpoint"), str) else None
    ckpt_name = data.get("sd_checkpoint_name") if isinstance(data.get("sd_checkpoint_name"), str) else None
    return Embedding(path.stem, path, tensors, step, ckpt, ckpt_name)


class EmbeddingDatabase:
    """The embeddings folder, read again when its files change; split into those that fit the loaded model's text
    encoders and those skipped (another model family), as A1111's `/sdapi/v1/embeddings` shows them."""

    def __init__(self, folder: Optional[str]):
        self.folder = folder
        self._stamp = None
        self._all: Dict[str, Embedding] = {}
        self._errors: Dict[str, str] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        files = list_files(self.folder, (".safetensors", ".pt", ".bin"))
        stamp = [(n, p.stat().st_size, p.stat().st_mtime_ns) for n, p in files.items()]
        if stamp == self._stamp:
            return
        self._all, self._errors = {}, {}
        for name, path in files.items():
            try:
                self._all[name] = read_embedding(path)
            except ModelLoadError as e:
                log.warning("embedding %s skipped: %s", name, e)
                self._errors[name] = str(e)
        self._stamp = stamp

    def split(self, dims: List[int]) -> Tuple[Dict[str, Embedding], Dict[str, Embedding]]:
        """(loaded, skipped) for text encoders of these widths."""
        with self._lock:
            self._refresh()
            loaded = {n: e for n, e in self._all.items() if e.fits(dims)}
            return loaded, {n: e for n, e in self._all.items() if n not in loaded}


def text_encoder_dims(pipe) -> List[int]:
    encoders = [e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e is not None]
    return [e.config.hidden_size for e in encoders]


# ---------------------------------------------------------------------------------------------------------------------
# LoRA

_LORA_SUFFIXES = {".lora_down.weight": "down", ".lora_up.weight": "up", ".alpha": "alpha",
                  ".lora_A.weight": "down", ".lora_B.weight": "up",
                  ".lora.down.weight": "down", ".lora.up.weight": "up",
                  # LyCORIS, as A1111's built-in Lora extension reads it: LoHa, LoKr, full weight differences
                  ".hada_w1_a": "hada_w1_a", ".hada_w1_b": "hada_w1_b", ".hada_w2_a": "hada_w2_a",
                  ".hada_w2_b": "hada_w2_b", ".hada_t1": "hada_t1", ".hada_t2": "hada_t2",
                  ".lokr_w1": "lokr_w1", ".lokr_w1_a": "lokr_w1_a", ".lokr_w1_b": "lokr_w1_b", ".lokr_w2": "lokr_w2",
                  ".lokr_w2_a": "lokr_w2_a", ".lokr_w2_b": "lokr_w2_b", ".lokr_t2": "lokr_t2", ".diff": "diff"}


@dataclass
class LoraTarget:
    module: torch.nn.Module
    part: str  # "te" or "unet"


def lora_targets(pipe) -> Dict[str, LoraTarget]:
    """Every name a LoRA file may give a layer, mapped to that layer."""
    targets: Dict[str, LoraTarget] = {}
    layer_types = (torch.nn.Linear, torch.nn.Conv2d)
    unet = pipe.unet
    for name, module in unet.named_modules():
        if isinstance(module, layer_types):
            target = LoraTarget(module, "unet")
            targets["lora_unet_" + name.replace(".", "_")] = target
            targets["unet." + name] = target
            ldm = unet_ldm_name(name, unet.config)
            if ldm:
                targets["lora_unet_" + ldm.replace(".", "_")] = target
    two = getattr(pipe, "text_encoder_2", None) is not None
    for k, encoder in enumerate(e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e):
        kohya = f"lora_te{k + 1}_" if two else "lora_te_"
        diffusers = "text_encoder_2." if k == 1 else "text_encoder."
        for name, module in encoder.named_modules():
            if isinstance(module, layer_types):
                target = LoraTarget(module, "te")
                full = name if name.startswith("text_model.") else "text_model." + name
                targets[kohya + full.replace(".", "_")] = target
                targets[diffusers + full] = target
                targets[diffusers + name] = target
    return targets


def lora_delta(down: torch.Tensor, up: torch.Tensor, alpha: Optional[torch.Tensor], shape) -> torch.Tensor:
    """The weight change `up @ down * alpha / rank` in the layer's shape (convolutions as A1111 composes them)."""
    rank = down.shape[0]
    scale = float(alpha) / rank if alpha is not None else 1.0
    down, up = down.float(), up.float()
    if down.dim() == 2 or down.shape[2:] == (1, 1):
        delta = up.reshape(up.shape[0], -1) @ down.reshape(rank, -1)
    else:
        delta = F.conv2d(down.permute(1, 0, 2, 3), up).permute(1, 0, 2, 3)
    return delta.reshape(shape) * scale


def network_delta(parts: Dict[str, torch.Tensor], shape) -> Optional[torch.Tensor]:
    """The weight change of one layer's LoRA, LoHa, LoKr or full difference (A1111's `network_*.py` formulas);
    None for a kind not handled (the Tucker-decomposed convolution variants)."""
    alpha = parts.get("alpha")
    if "down" in parts and "up" in parts:
        return lora_delta(parts["down"], parts["up"], alpha, shape)
    if "diff" in parts:
        return parts["diff"].float().reshape(shape)
    if "hada_w1_a" in parts and "hada_t1" not in parts:
        w1 = parts["hada_w1_a"].float() @ parts["hada_w1_b"].float()
        w2 = parts["hada_w2_a"].float() @ parts["hada_w2_b"].float()
        scale = float(alpha) / parts["hada_w1_b"].shape[0] if alpha is not None else 1.0
        return (w1 * w2).reshape(shape) * scale
    if ("lokr_w1" in parts or "lokr_w1_a" in parts) and "lokr_t2" not in parts:
        f = {k: v.float() for k, v in parts.items()}
        w1 = f["lokr_w1"] if "lokr_w1" in f else f["lokr_w1_a"] @ f["lokr_w1_b"]
        w2 = f["lokr_w2"] if "lokr_w2" in f else f["lokr_w2_a"] @ f["lokr_w2_b"]
        rank = parts["lokr_w1_b"].shape[0] if "lokr_w1_b" in parts else \
            parts["lokr_w2_b"].shape[0] if "lokr_w2_b" in parts else None
        scale = float(alpha) / rank if alpha is not None and rank else 1.0
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        return torch.kron(w1, w2).reshape(shape) * scale
    return None


@dataclass
class LoadedLora:
    name: str
    path: Path
    groups: Dict[str, Dict[str, torch.Tensor]] = field(default_factory=dict)  # layer prefix -> role -> tensor


def read_lora(name: str, path: Path) -> LoadedLora:
    lora = LoadedLora(name, path)
    for key, tensor in read_tensors(path).items():
        if not isinstance(tensor, torch.Tensor):
            continue
        for suffix, role in _LORA_SUFFIXES.items():
            if key.endswith(suffix):
                prefix = key[:-len(suffix)].removeprefix("base_model.model.")
                lora.groups.setdefault(prefix, {})[role] = tensor
                break
    if not lora.groups:
        raise ModelLoadError(f"LoRA {name}: {path.name} has no LoRA weights (lora_down/lora_up, lora_A/lora_B, "
                             "LoHa or LoKr)")
    return lora


class LoraLibrary:
    """The LoRA folder, and merging LoRAs into a model for the length of one job."""

    def __init__(self, folder: Optional[str]):
        self.folder = folder
        self._cache: Dict[Tuple[str, int, int], LoadedLora] = {}

    def available(self) -> Dict[str, Path]:
        return list_files(self.folder)

    def load(self, name: str) -> LoadedLora:
        files = self.available()
        path = files.get(name)
        if path is None:  # A1111 also accepts the path under the folder
            path = next((p for p in files.values()
                         if p.relative_to(self.folder).with_suffix("").as_posix() == name), None)
        if path is None:
            known = ", ".join(files) or f"none (the folder {self.folder} has no LoRA files)"
            raise JobError(f"LoRA {name!r} not found; known: {known}")
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._cache:
            while len(self._cache) >= LORA_CACHE_SIZE:  # the least recently read goes: files can be large
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = read_lora(name, path)
        self._cache[key] = self._cache.pop(key)  # most recently used last
        return self._cache[key]

    @contextlib.contextmanager
    def applied(self, pipe, requests: List[Tuple[str, float, float]], notice=None) -> Iterator[List[LoadedLora]]:
        """Merge (name, text-encoder weight, UNet weight) LoRAs into the weights; put the saved weights back after."""
        if not requests:
            yield []
            return
        targets = lora_targets(pipe)
        saved: Dict[int, Tuple[torch.nn.Parameter, torch.Tensor]] = {}
        loaded = []
        try:
            with torch.no_grad():
                for name, te_weight, unet_weight in requests:
                    lora = self.load(name)
                    loaded.append(lora)
                    unmatched = 0
                    for prefix, parts in lora.groups.items():
                        target = targets.get(prefix)
                        if target is None:
                            unmatched += 1
                            continue
                        multiplier = te_weight if target.part == "te" else unet_weight
                        if multiplier == 0:
                            continue
                        weight = target.module.weight
                        try:
                            delta = network_delta(parts, weight.shape)
                        except (RuntimeError, KeyError):  # another model's shapes, or an incomplete layer
                            delta = None
                        if delta is None:
                            unmatched += 1
                            continue
                        if id(weight) not in saved:
                            saved[id(weight)] = (weight, weight.detach().clone())
                        weight.add_((delta * multiplier).to(weight.device, weight.dtype))
                    if unmatched and notice:
                        notice(f"LoRA {name}: {unmatched} of {len(lora.groups)} layers left out (not in this model, "
                               "of other shapes, or of a kind not supported)")
            yield loaded
        finally:
            with torch.no_grad():
                for weight, original in saved.values():
                    weight.copy_(original)


# ---------------------------------------------------------------------------------------------------------------------
# VAE

def vae_state_dict(path: Path, vae) -> Dict[str, torch.Tensor]:
    """A VAE file's weights in diffusers' layout: an A1111 file (LDM names, with or without `first_stage_model.`)
    is converted; a diffusers file is taken as it is."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    data = read_tensors(path)
    data = data.get("state_dict", data) if isinstance(data.get("state_dict"), dict) else data
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if any(".down_blocks." in k or ".up_blocks." in k for k in tensors):
        return tensors
    converted = convert_ldm_vae_checkpoint(tensors, vae.config)
    if not converted:
        raise ModelLoadError(f"{path.name} is not a VAE (no encoder/decoder weights)")
    return converted


# ---------------------------------------------------------------------------------------------------------------------
# the user's folders together

class Library:
    """LoRAs, embeddings and VAEs from the user's folders (A1111's `models/Lora`, `embeddings`, `models/VAE`)."""

    def __init__(self, lora_dir: Optional[str] = None, embeddings_dir: Optional[str] = None,
                 vae_dir: Optional[str] = None):
        self.loras = LoraLibrary(lora_dir)
        self.embeddings = EmbeddingDatabase(embeddings_dir)
        self.vae_dir = vae_dir

    def vaes(self) -> Dict[str, Path]:
        """File name -> path, A1111's `sd_vae` choices besides "Automatic" and "None"."""
        return {p.name: p for p in list_files(self.vae_dir, (".safetensors", ".pt", ".ckpt")).values()}

    def resolve_vae(self, choice: str, checkpoint: CheckpointInfo) -> Optional[Path]:
        """The VAE file for a `sd_vae` value; None means the checkpoint's own. "Automatic" takes a file named after
        the checkpoint (`<name>.vae.safetensors`, next to it or in the VAE folder), as A1111 does."""
        vaes = self.vaes()
        if choice in ("None", "", None):
            return None
        if choice == "Automatic":
            candidates = [Path(checkpoint.path).with_name(f"{checkpoint.name}.vae{ext}")
                          for ext in (".safetensors", ".pt", ".ckpt")] if checkpoint.is_file else []
            candidates += [p for n, p in vaes.items() if Path(n).stem in (checkpoint.name, f"{checkpoint.name}.vae")]
            return next((p for p in candidates if p.is_file()), None)
        path = vaes.get(choice) or next((p for n, p in vaes.items() if Path(n).stem == choice), None)
        if path is None:
            known = ", ".join(["Automatic", "None"] + list(vaes))
            raise JobError(f"sd_vae: unknown VAE {choice!r}; known: {known}")
        return path

    def use_vae(self, model: LoadedModel, choice: str) -> Optional[Path]:
        """Put the chosen VAE's weights into the model (the checkpoint's own are kept to go back to)."""
        path = self.resolve_vae(choice, model.info)
        if path == model.vae_path:
            return path
        vae = model.pipe.vae
        if model.own_vae is None:
            model.own_vae = {k: v.detach().to("cpu", copy=True) for k, v in vae.state_dict().items()}
        state = model.own_vae if path is None else vae_state_dict(path, vae)
        try:
            vae.load_state_dict(state, strict=True)
        except RuntimeError as e:
            vae.load_state_dict(model.own_vae)
            model.vae_path = None
            raise JobError(f"sd_vae: {path.name} does not fit this model's VAE: {str(e)[:300]}") from e
        model.vae_path = path
        return path
