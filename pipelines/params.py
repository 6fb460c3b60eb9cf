"""Every job parameter declared once, in the style of InvokeAI's `InputField(default, ge, le, description)`.

A `Job` (or `Options`, or a script's arguments) field made with `InputField` carries its default, A1111's API default
where that differs, its valid bounds or choices, and the page's range, step, label and help. `check()` validates a
value against it; the page's controls (ui/), the API's request schema (api/) and the `app.py batch` flags (cli.py)
are all made from the same `Param`, so nothing restates a bound or a default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type, Union

SAME = object()  # api_default: the same as the default

Choices = Union[Type[IntEnum], Sequence[str], Callable[[], Sequence[str]], None]


class ParamError(ValueError):
    """A value outside its declaration; the message names the parameter and the problem."""


@dataclass(frozen=True)
class Param:
    label: str
    help: str = ""
    type: type = str  # bool, int, float, str, list (of str) or dict; an IntEnum for A1111's integer choices
    default: Any = None
    api_default: Any = SAME
    ge: Optional[float] = None
    le: Optional[float] = None
    optional: bool = False  # None is allowed (and means "not set")
    choices: Choices = None  # an IntEnum, fixed words, or a callable listing them now (checked elsewhere)
    strict_choices: bool = False  # a value outside fixed word choices is an error
    choices_from: Optional[str] = None  # a list the server knows ("upscalers", "checkpoints", ...), read when shown
    page: bool = True  # a control on the page's shared panel
    max_length: Optional[int] = None  # the longest text (or list) allowed
    ui: Optional[Tuple[float, float, float]] = None  # the page's slider: minimum, maximum, step
    ui_default: Any = SAME  # the page's starting value where "not set" shows as a value (a slider has no None)
    ui_name: Optional[str] = None  # the page's (and gradio_client's) name where it differs from the field's
    infotext: Optional[str] = None  # its key in A1111's infotext, where PNG info pastes it from
    api: Optional[str] = "all"  # in which API requests: "all", "img2img", or None
    cli: bool = True  # an `app.py batch` flag

    @property
    def api_value(self) -> Any:
        return self.default if self.api_default is SAME else self.api_default

    @property
    def ui_value(self) -> Any:
        return self.default if self.ui_default is SAME else self.ui_default

    @property
    def is_number(self) -> bool:
        return self.type in (int, float) or _is_enum(self.type)

    @property
    def is_integer(self) -> bool:
        """An int, or an enum of A1111's integers."""
        return self.type is int or _is_enum(self.type)

    def numbered_choices(self) -> str:
        """An integer setting's meanings, " (0: fill, 1: original, ...)", or "" for any other parameter."""
        words = self.choice_list() if self.is_integer else []
        return " (" + ", ".join(f"{i}: {w}" for i, w in enumerate(words)) + ")" if words else ""

    @property
    def bounds(self) -> Tuple[Optional[float], Optional[float]]:
        """(ge, le); an enum's are its first and last values."""
        if _is_enum(self.type):
            values = [int(member) for member in self.type]
            return min(values), max(values)
        return self.ge, self.le

    def choice_list(self) -> Sequence[str]:
        """The words the page offers: an enum's labels (a bool's two, where it has an enum), or the choices."""
        enum = self.type if _is_enum(self.type) else self.choices if _is_enum(self.choices) else None
        if enum is not None:
            return [member.label for member in enum]
        choices = self.choices() if callable(self.choices) else self.choices
        return list(choices or [])

    def check(self, name: str, value: Any) -> None:
        """Raise a ParamError naming `name` when `value` does not fit."""
        if value is None and self.optional:
            return
        title = name if self.label.lower() == name.replace("_", " ").lower() else f"{name} ({self.label})"
        if self.type is bool:
            if not isinstance(value, bool):
                raise ParamError(f"{title} must be true or false, not {value!r}")
            return
        if self.is_number:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    self.is_integer and not float(value).is_integer()):
                raise ParamError(f"{title} must be {'an integer' if self.is_integer else 'a number'}, not {value!r}")
            low, high = self.bounds
            if (low is not None and value < low) or (high is not None and value > high):
                raise ParamError(f"{title} is {value}: it must be between {low} and {high}")
            return
        if self.max_length is not None and isinstance(value, (str, list)) and len(value) > self.max_length:
            raise ParamError(f"{title} is {len(value)} long: at most {self.max_length} is allowed")
        if self.type is str:
            if not isinstance(value, str):
                raise ParamError(f"{title} must be a string, not {value!r}")
            if self.strict_choices and value not in self.choice_list():
                raise ParamError(f"{title} is {value!r}: it must be one of {', '.join(self.choice_list())}")
        elif self.type is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ParamError(f"{title} must be a list of names, not {value!r}")
        elif self.type is dict and not isinstance(value, dict):
            raise ParamError(f"{title} must be an object, not {value!r}")

    def from_infotext(self, text: Any) -> Any:
        """A value as an infotext writes it ("20", "Euler a", "latent noise", "True") in this parameter's type; a
        ValueError when it is not one."""
        text = str(text).strip()
        labels = [label.lower() for label in self.choice_list()]
        if labels and (self.is_integer or self.type is bool):
            if text.lower() not in labels:
                raise ValueError(f"{text!r} is not one of {', '.join(self.choice_list())}")
            index = labels.index(text.lower())
            return bool(index) if self.type is bool else index
        if self.type is bool:  # "True", or a name standing for it ("Face restoration: GFPGAN")
            return text.lower() not in ("false", "0", "none", "")
        if self.is_integer:
            return int(float(text))
        if self.type is float:
            return float(text)
        if self.type is list:
            return [part.strip() for part in text.split(",") if part.strip()]
        return text

    def convert(self, value: Any) -> Any:
        """A value from a form or a flag (a slider's float, a radio's index) in this parameter's type."""
        if value is None:
            return None if self.optional else self.default
        if self.type in (bool, float):
            return self.type(value)
        if self.is_integer:
            return int(value)
        return list(value) if self.type is list else value


def InputField(default: Any = None, *, label: str, **declaration) -> Any:
    """A dataclass field with its `Param`; the field's type is taken from the default unless `type` is given."""
    kind = declaration.pop("type", None) or (type(default) if default is not None else str)
    if isinstance(default, IntEnum):
        kind = type(default)
    param = Param(label=label, type=kind, default=default, **declaration)
    metadata = {"param": param}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared(cls) -> Dict[str, Param]:
    """The `Param` of each declared field of a dataclass, in declaration order."""
    return {f.name: f.metadata["param"] for f in dataclasses.fields(cls) if "param" in f.metadata}


def check_declared(obj) -> None:
    for name, param in declared(type(obj)).items():
        param.check(name, getattr(obj, name))


def _is_enum(kind) -> bool:
    return isinstance(kind, type) and issubclass(kind, IntEnum)
