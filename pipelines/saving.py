"""Saving pictures as A1111 does: `<dir>/YYYY-MM-DD/00042-<seed>.png` (or .jpg / .webp, the settings
`samples_format` / `grid_format`), the infotext in the PNG `parameters` chunk or, for jpg and webp, in the EXIF
UserComment as A1111 writes it; each file written under a temporary name and renamed, so that no half-written file ever
has a final name. Samples are written by a writer thread, in the order they were made, off the model's path: a name is
reserved at once, the file exists when its `then` runs."""
from __future__ import annotations

import datetime
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from PIL import Image, PngImagePlugin

from .fast_png import write_rgb_png

_LEADING_NUMBER = re.compile(r"^(\d+)")
_lock = threading.Lock()  # numbering and renaming are one step for all savers of this process


def next_sequence_number(folder: Path, prefix: str = "") -> int:
    """One more than the largest number that follows `prefix` at the start of the folder's file names (0 if none)."""
    numbers = [int(m.group(1)) for name in os.listdir(folder)
               if name.startswith(prefix) and (m := _LEADING_NUMBER.match(name[len(prefix):]))]
    return max(numbers, default=-1) + 1


EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
UNICODE_PREFIX = b"UNICODE\0"  # piexif's UserComment.dump(encoding="unicode"): UTF-16 big-endian after it


@dataclass(frozen=True)
class SaveFormat:
    """How a picture is written (A1111's settings `samples_format` or `grid_format`, `jpeg_quality`,
    `webp_lossless`, `enable_pnginfo`)."""
    extension: str = "png"
    jpeg_quality: int = 80
    webp_lossless: bool = False
    pnginfo: bool = True
    png_compress_level: int = 1  # zlib's level: 1 is several times faster than PIL's 6 on big pictures, same pixels


PNG = SaveFormat()


def write_png(image: Image.Image, path: Path, infotext: Optional[str]) -> None:
    write_image(image, path, infotext, PNG)


def write_image(image: Image.Image, path: Path, infotext: Optional[str], fmt: SaveFormat) -> None:
    """Write a picture with its infotext atomically: a temporary name in the same folder, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    kind = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}[fmt.extension.lower()]
    try:
        if kind == "PNG":
            text = infotext if fmt.pnginfo else None
            if image.mode == "RGB":  # the results: written on every core, several times faster than PIL
                with open(tmp, "wb") as out:
                    write_rgb_png(image, out, text, fmt.png_compress_level)
            else:
                info = PngImagePlugin.PngInfo()
                if text:
                    info.add_text("parameters", text)
                image.save(tmp, format=kind, pnginfo=info, compress_level=fmt.png_compress_level)
        else:
            exif = Image.Exif()
            if infotext and fmt.pnginfo:
                exif.get_ifd(EXIF_IFD)[USER_COMMENT] = UNICODE_PREFIX + infotext.encode("utf-16-be")
            image.convert("RGB").save(tmp, format=kind, quality=fmt.jpeg_quality, lossless=fmt.webp_lossless,
                                      exif=exif)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_infotext(image: Image.Image) -> str:
    """A picture's infotext: the PNG `parameters` chunk, else the EXIF UserComment of a jpg or webp (as PNG Info
    reads them in A1111)."""
    text = image.info.get("parameters")
    if text:
        return text
    try:
        comment = image.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
    except Exception:  # a damaged EXIF block carries no infotext
        return ""
    if not isinstance(comment, bytes):
        return comment or ""
    if comment.startswith(UNICODE_PREFIX):
        return comment[len(UNICODE_PREFIX):].decode("utf-16-be", errors="ignore")
    if comment.startswith(b"ASCII\0\0\0"):
        return comment[8:].decode("ascii", errors="ignore")
    return comment.decode("utf-8", errors="ignore")


class ImageSaver:
    """Numbered, dated saving of samples and grids into A1111's img2img output folders."""

    def __init__(self, outdir: str):
        self.samples_dir = Path(outdir) / "img2img-images"
        self.grids_dir = Path(outdir) / "img2img-grids"
        self._reserved: Dict[Tuple[Path, str], int] = {}  # the last number handed out per folder, maybe not written yet
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-writer")  # one: files keep order

    def _reserve(self, root: Path, name_for_number, prefix: str) -> Path:
        folder = root / datetime.date.today().isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        with _lock:
            number = max(next_sequence_number(folder, prefix), self._reserved.get((folder, prefix), -1) + 1)
            self._reserved[(folder, prefix)] = number
        return folder / name_for_number(number)

    def save_sample(self, image: Image.Image, seed: int, infotext: str, fmt: SaveFormat = PNG) -> str:
        """`00042-<seed>.png`, written now."""
        path = self._reserve(self.samples_dir, lambda n: f"{n:05}-{seed}.{fmt.extension}", "")
        write_image(image, path, infotext, fmt)
        return str(path)

    def save_sample_later(self, image: Image.Image, seed: int, infotext: str, fmt: SaveFormat,
                          then: Callable[[str], None]) -> Future:
        """`00042-<seed>.png`, named now and written by the writer thread, which then calls `then(path)`. The
        future's result is None once both are done (or raises what they raised)."""
        path = self._reserve(self.samples_dir, lambda n: f"{n:05}-{seed}.{fmt.extension}", "")

        def write() -> None:
            write_image(image, path, infotext, fmt)
            then(str(path))
        return self._writer.submit(write)

    def save_grid(self, image: Image.Image, infotext: str, fmt: SaveFormat = PNG) -> str:
        """`grid-0007.png`"""
        path = self._reserve(self.grids_dir, lambda n: f"grid-{n:04}.{fmt.extension}", "grid-")
        write_image(image, path, infotext, fmt)
        return str(path)
