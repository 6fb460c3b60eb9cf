"""Saving pictures as A1111 does: `<dir>/YYYY-MM-DD/00042-<seed>.png`, infotext in the PNG `parameters` chunk,
each file written under a temporary name and renamed, so that no half-written file ever has a final name."""
from __future__ import annotations

import datetime
import os
import re
import threading
from pathlib import Path
from typing import Optional

from PIL import Image, PngImagePlugin

_LEADING_NUMBER = re.compile(r"^(\d+)")
_lock = threading.Lock()  # numbering and renaming are one step for all savers of this process


def next_sequence_number(folder: Path, prefix: str = "") -> int:
    """One more than the largest number that follows `prefix` at the start of the folder's file names (0 if none)."""
    numbers = [int(m.group(1)) for name in os.listdir(folder)
               if name.startswith(prefix) and (m := _LEADING_NUMBER.match(name[len(prefix):]))]
    return max(numbers, default=-1) + 1


def write_png(image: Image.Image, path: Path, infotext: Optional[str]) -> None:
    """Write a PNG with its infotext atomically: a temporary name in the same folder, then a rename."""
    info = PngImagePlugin.PngInfo()
    if infotext:
        info.add_text("parameters", infotext)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        image.save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ImageSaver:
    """Numbered, dated saving of samples and grids into A1111's img2img output folders."""

    def __init__(self, outdir: str):
        self.samples_dir = Path(outdir) / "img2img-images"
        self.grids_dir = Path(outdir) / "img2img-grids"

    def _save_numbered(self, root: Path, name_for_number, prefix: str, image: Image.Image,
                       infotext: Optional[str]) -> str:
        folder = root / datetime.date.today().isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        with _lock:
            path = folder / name_for_number(next_sequence_number(folder, prefix))
            write_png(image, path, infotext)
        return str(path)

    def save_sample(self, image: Image.Image, seed: int, infotext: str) -> str:
        """`00042-<seed>.png`"""
        return self._save_numbered(self.samples_dir, lambda n: f"{n:05}-{seed}.png", "", image, infotext)

    def save_grid(self, image: Image.Image, infotext: str) -> str:
        """`grid-0007.png`"""
        return self._save_numbered(self.grids_dir, lambda n: f"grid-{n:04}.png", "grid-", image, infotext)
