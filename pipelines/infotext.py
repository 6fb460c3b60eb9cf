"""A1111's `parameters` text: written into every PNG, and read back from A1111's own files (reference section 5)."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Mapping

RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")

# Keys A1111's parser fills in when a file does not carry them (the ones this project uses).
PARSE_DEFAULTS = {
    "Clip skip": "1",
    "Mask mode": "Inpaint masked",
    "Masked content": "original",
    "Inpaint area": "Whole picture",
    "Masked area padding": 32,
    "RNG": "GPU",
    "Schedule type": "Automatic",
    "VAE Encoder": "Full",
    "VAE Decoder": "Full",
}


def quote(value: Any) -> str:
    """A value as A1111 writes it: `str()`, JSON-quoted when it holds a comma, a colon or a newline."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def create_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """`prompt`, `Negative prompt: ...`, then one line of `Key: value` pairs; None values are left out."""
    pairs = ", ".join(key if key == value else f"{key}: {quote(value)}"
                      for key, value in params.items() if value is not None)
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{pairs}".strip()


def add_to_infotext(infotext: str, params: Mapping[str, Any]) -> str:
    """An infotext with more `Key: value` pairs, before Version (which A1111 writes last)."""
    pairs = ", ".join(f"{key}: {quote(value)}" for key, value in params.items() if value is not None)
    if not pairs:
        return infotext
    head, _, last = infotext.rpartition("\n")
    if ", Version: " in last:
        before, _, version = last.rpartition(", Version: ")
        last = f"{before}, {pairs}, Version: {version}"
    else:
        last = f"{last}, {pairs}" if last else pairs
    return f"{head}\n{last}" if head else last


def unquote(value: str) -> str:
    if len(value) > 1 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_generation_parameters(text: str) -> Dict[str, Any]:
    """A1111's `parse_generation_parameters`: values stay strings, `WxH` values split into `-1` / `-2` keys."""
    result: Dict[str, Any] = {}
    prompt, negative_prompt = "", ""
    done_with_prompt = False
    *lines, last_line = text.strip().split("\n")
    if len(RE_PARAM.findall(last_line)) < 3:
        lines.append(last_line)
        last_line = ""

    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line

    for key, value in RE_PARAM.findall(last_line):
        value = unquote(value)
        size = RE_IMAGE_SIZE.match(value)
        if size:
            result[f"{key}-1"] = size.group(1)
            result[f"{key}-2"] = size.group(2)
        else:
            result[key] = value

    result["Prompt"] = prompt
    result["Negative prompt"] = negative_prompt
    for key, value in PARSE_DEFAULTS.items():
        result.setdefault(key, value)
    return result


def number(value):
    """Whole numbers as A1111's UI writes them (`CFG scale: 7`, `Denoising strength: 1`)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
