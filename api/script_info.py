"""A1111's `/scripts` and `/script-info`: the scripts by their lower-case titles, and each one's arguments (label,
default, bounds, choices) from their one declaration."""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from pipelines import Param
from pipelines.scripts import ALWAYSON, SELECTABLE, find_script

__all__ = ["find_script", "script_info", "script_lists"]


def script_lists() -> Dict[str, List[str]]:
    img2img = [script.key() for script in SELECTABLE] + list(ALWAYSON)
    txt2img = [script.key() for script in SELECTABLE if not script.img2img_only] + list(ALWAYSON)
    return {"txt2img": txt2img, "img2img": img2img}


def arg_info(param: Param, choices: Callable[[str], List[str]]) -> Dict[str, Any]:
    low, high, step = param.ui if param.ui is not None else (*param.bounds, None) if param.is_number else (None,) * 3
    listed = choices(param.choices_from) if param.choices_from else list(param.choice_list()) or None
    return {"label": param.label, "value": param.default, "minimum": low, "maximum": high, "step": step,
            "choices": listed}


def script_info(choices: Callable[[str], List[str]]) -> List[Dict[str, Any]]:
    """Each script once for txt2img (where it is one) and once for img2img, as A1111 lists them."""
    info = []
    for is_img2img in (False, True):
        for script in SELECTABLE:
            if script.img2img_only and not is_img2img:
                continue
            info.append({"name": script.key(), "is_alwayson": False, "is_img2img": is_img2img,
                         "args": [arg_info(p, choices) for p in script.params().values()]})
        for key, script in ALWAYSON.items():
            info.append({"name": key, "is_alwayson": True, "is_img2img": is_img2img,
                         "args": [arg_info(p, choices) for p in script.params().values()]})
    return info
