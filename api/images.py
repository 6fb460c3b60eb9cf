"""Pictures in and out of the API: base64 (with or without a `data:image/...;base64,` prefix), and http(s) URLs only
when the settings allow them and never toward a private address (fetch.py)."""
from __future__ import annotations

import base64
import binascii
import io
from typing import Optional

from PIL import Image, PngImagePlugin

from pipelines import ImageInputError, load_image
from pipelines.imageops import PixelBudget

from .fetch import fetch_url


def decode_image(data: str, what: str, allow_urls: bool = False, budget: Optional[PixelBudget] = None) -> Image.Image:
    """A picture from an API string; ImageInputError names `what` (e.g. "init_images[0]") and the problem."""
    if not isinstance(data, str) or not data:
        raise ImageInputError(f"{what} is empty")
    if data.startswith(("http://", "https://")):
        return load_image(fetch_url(data, what, allow_urls), what, budget)
    if data.startswith("data:image/"):
        try:
            data = data.split(";", 1)[1].split(",", 1)[1]
        except IndexError:
            raise ImageInputError(f"{what} has a malformed data: URL prefix") from None
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as e:
        raise ImageInputError(f"{what} is not valid base64: {e}") from None
    if not raw:
        raise ImageInputError(f"{what} is not valid base64: it decodes to nothing")
    return load_image(raw, what, budget)


def encode_image(image: Image.Image) -> str:
    """Base64 PNG without a prefix, its string info (the infotext) kept as text chunks, as A1111 sends it."""
    info = PngImagePlugin.PngInfo()
    for key, value in image.info.items():
        if isinstance(key, str) and isinstance(value, str):
            info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def optional_image(data: Optional[str], what: str, allow_urls: bool,
                   budget: Optional[PixelBudget] = None) -> Optional[Image.Image]:
    return None if data is None or data == "" else decode_image(data, what, allow_urls, budget)
