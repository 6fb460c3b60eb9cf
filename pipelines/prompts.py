"""A1111's prompt syntax (reference 3.16), parsed by our own code, with no torch: comments, styles, extra-network tags,
`AND` composable prompts, prompt editing and alternation schedules, and emphasis with `BREAK`.

The text encoder side (tokens, 75-token chunks, embeddings) is in `conditioning.py`. A prompt that does not parse is
used as plain text, never an exception, as in A1111.
"""
from __future__ import annotations

import csv
import io
import os
import re
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

BREAK = "BREAK"
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

# ---------------------------------------------------------------------------------------------------------------------
# comments, extra networks, AND

_line_comment = re.compile(r"(^|\n)#[^\n]*(\n|$)")
_comment = re.compile(r"#[^\n]*(\n|$)")
_extra_network = re.compile(r"<(\w+):([^>]+)>")
_and = re.compile(r"\bAND\b")
_and_weight = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


def strip_comments(prompt: str) -> str:
    """`#` to the end of a line is a comment (A1111's `enable_prompt_comments`); the line break stays."""
    return _comment.sub("\n", _line_comment.sub("\n", prompt))


@dataclass(frozen=True)
class ExtraNetwork:
    kind: str  # "lora", "hypernet", ...
    name: str
    weight: float  # the first number after the name (the text encoder's for a LoRA); 1 when absent
    unet_weight: float  # the second number (a LoRA's UNet weight); the first when absent


def extract_extra_networks(prompt: str) -> Tuple[str, List[ExtraNetwork]]:
    """Remove `<kind:name:weight>` tags from a prompt: the text the encoder sees, and the tags."""
    found = []

    def take(m: re.Match) -> str:
        name, *args = m.group(2).split(":")
        numbers = []
        for arg in args[:2]:
            try:
                numbers.append(float(arg))
            except ValueError:
                break
        weight = numbers[0] if numbers else 1.0
        found.append(ExtraNetwork(m.group(1), name.strip(), weight, numbers[1] if len(numbers) > 1 else weight))
        return ""

    return _extra_network.sub(take, prompt), found


def split_and(prompt: str) -> List[Tuple[str, float]]:
    """`a AND b:0.5` -> [("a", 1.0), ("b", 0.5)]: composable diffusion's parts with their weights."""
    parts = []
    for sub in _and.split(prompt):
        m = _and_weight.search(sub)
        text, weight = m.group(1), m.group(2)
        parts.append((text, float(weight) if weight is not None else 1.0))
    return parts


# ---------------------------------------------------------------------------------------------------------------------
# prompt editing and alternation: [from:to:when], [to:when], [from::when], [a|b|c]

_number = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*$")


class _Unparsable(Exception):
    pass


@dataclass
class _Scheduled:
    before: list
    after: list
    when: str  # as written: a decimal point makes it a fraction of the steps


@dataclass
class _Alternate:
    options: List[list]


class _ScheduleParser:
    """Recursive descent over A1111's lark grammar for schedules. Emphasis brackets stay in the text (they are
    parsed later); at the top level a bracket or colon that opens nothing valid is plain text."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def parse(self) -> list:
        nodes: list = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in "[(":
                start = self.pos
                try:
                    nodes.append(self.group())
                    continue
                except _Unparsable:
                    self.pos = start
            if c in "[]():":
                nodes.append(c)
                self.pos += 1
            elif c == "|":
                raise _Unparsable("'|' outside [a|b]")
            else:
                nodes.append(self.plain())
        return nodes

    def plain(self) -> str:
        start = self.pos
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                self.pos += 2
            elif c in "[]():|":
                break
            else:
                self.pos += 1
        return self.text[start:self.pos]

    def inner(self) -> list:
        """A prompt inside brackets: text and nested groups, up to the next `: | ) ]`."""
        nodes: list = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in "[(":
                nodes.append(self.group())
            elif c in ":|)]":
                return nodes
            else:
                nodes.append(self.plain())
        raise _Unparsable("unclosed bracket")

    def group(self):
        opener = self.text[self.pos]
        closer = "]" if opener == "[" else ")"
        self.pos += 1
        parts, separators = [self.inner()], []
        while self.text[self.pos] in ":|":
            separators.append(self.text[self.pos])
            self.pos += 1
            parts.append(self.inner())
        if self.text[self.pos] != closer:
            raise _Unparsable("mismatched bracket")
        self.pos += 1
        if opener == "(":  # emphasis: kept as written, with any schedules inside
            if separators not in ([], [":"]):
                raise _Unparsable("(a:b:c)")
            return ["("] + parts[0] + ([":"] + parts[1] if separators else []) + [")"]
        if not separators:
            return ["["] + parts[0] + ["]"]
        if set(separators) == {"|"}:
            return _Alternate(parts)
        if "|" in separators or len(separators) > 2:
            raise _Unparsable("mixed [a:b|c]")
        when = parts[-1]
        if len(when) > 1 or (when and not isinstance(when[0], str)) or not _number.match("".join(when) or "x"):
            raise _Unparsable("no number after the last ':'")
        before = parts[0] if len(parts) == 3 else []
        return _Scheduled(before, parts[-2], "".join(when).strip())


def _when_step(when: str, steps: int) -> int:
    value = float(when)
    value = value * steps if "." in when else value
    return min(steps, int(value))


def _collect_steps(nodes: list, steps: int, found: set) -> None:
    for node in nodes:
        if isinstance(node, _Scheduled):
            step = _when_step(node.when, steps)
            if step >= 1:
                found.add(step)
            _collect_steps(node.before, steps, found)
            _collect_steps(node.after, steps, found)
        elif isinstance(node, _Alternate):
            found.update(range(1, steps + 1))
            for option in node.options:
                _collect_steps(option, steps, found)
        elif isinstance(node, list):
            _collect_steps(node, steps, found)


def _text_at(nodes: list, step: int, steps: int) -> str:
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Scheduled):
            out.append(_text_at(node.before if step <= _when_step(node.when, steps) else node.after, step, steps))
        elif isinstance(node, _Alternate):
            out.append(_text_at(node.options[(step - 1) % len(node.options)], step, steps))
        else:
            out.append(_text_at(node, step, steps))
    return "".join(out)


def prompt_schedule(prompt: str, steps: int) -> List[Tuple[int, str]]:
    """[(last step, text)]: the prompt's text at each step 1..steps, A1111's `get_learned_conditioning_prompt_schedules`
    (a `when` with a decimal point is a fraction of `steps`, without one a step number)."""
    steps = max(1, steps)
    try:
        nodes = _ScheduleParser(prompt).parse()
        found = {steps}
        _collect_steps(nodes, steps, found)
        return [(step, _text_at(nodes, step, steps)) for step in sorted(found)]
    except (_Unparsable, RecursionError):  # brackets nested past Python's stack: plain text too
        return [(steps, prompt)]


# ---------------------------------------------------------------------------------------------------------------------
# emphasis: (text) x1.1, [text] /1.1, (text:1.3), escapes, BREAK

_attention = re.compile(r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""", re.X)
_break = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_emphasis(text: str) -> List[Tuple[str, float]]:
    """[(text, weight)] as A1111's `parse_prompt_attention`; a `BREAK` is ("BREAK", -1). Unbalanced brackets apply
    to the end of the prompt; runs of equal weight are merged."""
    res: List[list] = []
    round_brackets: List[int] = []
    square_brackets: List[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in _attention.finditer(text):
        piece, weight = m.group(0), m.group(1)
        if piece.startswith("\\"):
            res.append([piece[1:], 1.0])
        elif piece == "(":
            round_brackets.append(len(res))
        elif piece == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            try:
                multiply_range(round_brackets.pop(), float(weight))
            except ValueError:  # "(a:1.2.3)": the number is text
                res.append([piece, 1.0])
        elif piece == ")" and round_brackets:
            multiply_range(round_brackets.pop(), ROUND_MULTIPLIER)
        elif piece == "]" and square_brackets:
            multiply_range(square_brackets.pop(), SQUARE_MULTIPLIER)
        else:
            for i, part in enumerate(_break.split(piece)):
                if i > 0:
                    res.append([BREAK, -1])
                res.append([part, 1.0])
    for pos in round_brackets:
        multiply_range(pos, ROUND_MULTIPLIER)
    for pos in square_brackets:
        multiply_range(pos, SQUARE_MULTIPLIER)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(t, w) for t, w in res]


# ---------------------------------------------------------------------------------------------------------------------
# styles.csv

@dataclass(frozen=True)
class Style:
    name: str
    prompt: str
    negative_prompt: str


def merge_style(style_prompt: str, prompt: str) -> str:
    """A style with `{prompt}` takes the prompt in that place; otherwise the two are joined with ", "."""
    if "{prompt}" in style_prompt:
        return style_prompt.replace("{prompt}", prompt)
    return ", ".join(p for p in (prompt.strip(), style_prompt.strip()) if p)


class UnknownStyleError(ValueError):
    pass


class StyleDatabase:
    """A1111's `styles.csv` (columns name, prompt, negative_prompt), read again when the file changes."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self._stamp = None
        self._styles: Dict[str, Style] = {}
        self._lock = threading.Lock()

    def styles(self) -> Dict[str, Style]:
        with self._lock:
            try:
                stat = os.stat(self.path) if self.path else None
            except OSError:
                stat = None
            stamp = (stat.st_size, stat.st_mtime_ns) if stat else None
            if stamp != self._stamp:
                self._styles = self._read() if stamp else {}
                self._stamp = stamp
            return dict(self._styles)

    def _read(self) -> Dict[str, Style]:
        with open(self.path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
        styles = {}
        for row in csv.DictReader(io.StringIO(text), skipinitialspace=True):
            name = (row.get("name") or "").strip()
            if name:
                styles[name] = Style(name, row.get("prompt") or row.get("text") or "", row.get("negative_prompt") or "")
        return styles

    def apply(self, prompt: str, negative_prompt: str, names: List[str]) -> Tuple[str, str]:
        """The prompts with the named styles applied in order; an unknown name is an error naming the known ones."""
        styles = self.styles()
        for name in names:
            if name not in styles:
                known = ", ".join(styles) or "none (no styles.csv)"
                raise UnknownStyleError(f"styles: unknown style {name!r}; known: {known}")
            prompt = merge_style(styles[name].prompt, prompt)
            negative_prompt = merge_style(styles[name].negative_prompt, negative_prompt)
        return prompt, negative_prompt
