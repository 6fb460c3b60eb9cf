"""What A1111's integer and string settings mean, as enums that still serialise as A1111's values (no torch here)."""
from __future__ import annotations

from enum import IntEnum
from typing import Tuple


class Choice(IntEnum):
    """An A1111 integer setting: the member is the integer the API sends, `label` the words the page shows."""

    def __new__(cls, value: int, label: str):
        member = int.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> Tuple[str, ...]:
        return tuple(member.label for member in cls)


class ResizeMode(Choice):
    JUST_RESIZE = 0, "Just resize"
    CROP_AND_RESIZE = 1, "Crop and resize"
    RESIZE_AND_FILL = 2, "Resize and fill"
    LATENT_UPSCALE = 3, "Just resize (latent upscale)"


class MaskedContent(Choice):
    FILL = 0, "fill"
    ORIGINAL = 1, "original"
    LATENT_NOISE = 2, "latent noise"
    LATENT_NOTHING = 3, "latent nothing"


class MaskMode(Choice):
    INPAINT_MASKED = 0, "Inpaint masked"
    INPAINT_NOT_MASKED = 1, "Inpaint not masked"


class InpaintArea(Choice):
    """`inpaint_full_res` is a bool in A1111's API; the page shows it as these two words."""
    WHOLE_PICTURE = 0, "Whole picture"
    ONLY_MASKED = 1, "Only masked"


EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")
