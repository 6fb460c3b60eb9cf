"""Upscalers, as A1111 lists and runs them: "None", "Lanczos" and "Nearest" always, and every model file found in the
A1111 folders (`models/ESRGAN`, `models/RealESRGAN`, `models/SwinIR`, `models/DAT`, ...), loaded with spandrel, which
detects the architecture (ESRGAN, Real-ESRGAN, SwinIR, DAT, HAT and the rest) from the weights. Model upscalers run in
tiles (the `ESRGAN_tile` / `ESRGAN_tile_overlap` settings) on the model's device. Nothing is ever downloaded."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from PIL import Image

from .job import JobError
from .tiles import combine_grid, split_grid

log = logging.getLogger(__name__)
MODEL_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt")
UPSCALER_FOLDERS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "SPAN", "Upscaler")
PLAIN = {"None": None, "Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}


class UpscalerError(JobError):
    """An unknown upscaler, or a model file that does not load; the message names it."""


@dataclass(frozen=True)
class UpscalerInfo:
    name: str
    path: Optional[Path] = None  # None for the plain ones
    scale: int = 4

    @property
    def model_name(self) -> Optional[str]:
        return self.path.parent.name if self.path else None


def find_upscaler_files(models_dir: Optional[Union[str, Path]]) -> List[UpscalerInfo]:
    """Model files under the A1111 upscaler folders, named by file stem (A1111's names), sorted by name."""
    if not models_dir:
        return []
    found = {}
    for folder in UPSCALER_FOLDERS:
        root = Path(models_dir) / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in MODEL_SUFFIXES and path.is_file() and not path.name.startswith("."):
                found.setdefault(path.stem, UpscalerInfo(path.stem, path))
    return [found[name] for name in sorted(found, key=str.casefold)]


class Upscalers:
    """The upscalers of one server: the list, and the model upscaler last used, kept loaded."""

    def __init__(self, models_dir: Optional[Union[str, Path]] = "models", device: str = "cpu"):
        self.models_dir, self.device = models_dir, device
        self._loaded: Dict[Path, object] = {}
        self._lock = threading.Lock()

    def list(self) -> List[UpscalerInfo]:
        return [UpscalerInfo(name) for name in PLAIN] + find_upscaler_files(self.models_dir)

    def names(self) -> List[str]:
        return [u.name for u in self.list()]

    def find(self, name_or_index: Union[str, int]) -> UpscalerInfo:
        """By name (case-insensitive), or by its index in the list (A1111's Radio of type "index")."""
        listed = self.list()
        if isinstance(name_or_index, int) or (isinstance(name_or_index, str) and name_or_index.isdigit()):
            index = int(name_or_index)
            if 0 <= index < len(listed):
                return listed[index]
            raise UpscalerError(f"upscaler index {index} is out of range: there are {len(listed)} upscalers")
        for upscaler in listed:
            if upscaler.name.lower() == str(name_or_index).lower():
                return upscaler
        raise UpscalerError(f"upscaler {name_or_index!r} not found; upscalers: {', '.join(u.name for u in listed)}")

    def upscale(self, image: Image.Image, scale: float, name: Union[str, int], tile: int = 192,
                overlap: int = 8) -> Image.Image:
        """A1111's `Upscaler.upscale`: the upscaler run until the picture reaches `scale` times its size (at most
        three times), then Lanczos to that size rounded down to 8."""
        upscaler = self.find(name)
        dest_w, dest_h = int((image.width * scale) // 8 * 8), int((image.height * scale) // 8 * 8)
        for i in range(3):
            if image.width >= dest_w and image.height >= dest_h and (i > 0 or scale != 1):
                break
            shape = image.size
            image = self._upscale_once(upscaler, image, scale, tile, overlap)
            if image.size == shape:
                break
        if image.size != (dest_w, dest_h):
            image = image.resize((dest_w, dest_h), resample=Image.Resampling.LANCZOS)
        return image

    def _upscale_once(self, upscaler: UpscalerInfo, image: Image.Image, scale: float, tile: int,
                      overlap: int) -> Image.Image:
        if upscaler.path is None:
            method = PLAIN[upscaler.name]
            if method is None:
                return image
            return image.resize((int(image.width * scale), int(image.height * scale)), resample=method)
        with self._lock:
            model = self._model(upscaler.path)
            return upscale_with_model(model, image.convert("RGB"), tile, overlap)

    def _model(self, path: Path):
        if path not in self._loaded:
            self._loaded.clear()  # one model upscaler in memory at a time
            self._loaded[path] = load_upscaler_model(path, self.device)
        return self._loaded[path]


def load_upscaler_model(path: Path, device: str):
    """An image-to-image model from a file, its architecture detected by spandrel."""
    import spandrel
    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    except Exception as e:  # spandrel raises several kinds for files it does not know
        raise UpscalerError(f"{path.name}: not an upscaler model spandrel can load ({e})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise UpscalerError(f"{path.name}: a {descriptor.architecture.name} model is not an upscaler")
    log.info("Loaded upscaler %s (%s, x%d)", path.name, descriptor.architecture.name, descriptor.scale)
    return descriptor.eval()


@torch.inference_mode()
def upscale_patch(model, image: Image.Image) -> Image.Image:
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    output = model(tensor.to(model.device, model.dtype))
    array = output[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.round(array * 255).astype(np.uint8))


def upscale_with_model(model, image: Image.Image, tile: int, overlap: int) -> Image.Image:
    """A1111's `upscale_with_model`: the picture in tile x tile pieces (the whole picture when tile is 0), each
    upscaled, joined with their overlaps blended."""
    if tile <= 0 or (image.width <= tile and image.height <= tile):
        return upscale_patch(model, image)
    grid = split_grid(image, min(tile, image.width), min(tile, image.height), overlap)
    factor = 1
    for row in grid.rows:
        for piece in row.tiles:
            upscaled = upscale_patch(model, piece.image)
            factor = upscaled.width // piece.image.width
            piece.image = upscaled
    return combine_grid(grid.scaled(factor))
