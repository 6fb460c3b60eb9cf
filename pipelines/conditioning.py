"""Prompts to text-encoder embeddings as A1111 makes them (`sd_hijack_clip.py`, `sd_emphasis.py`): 75-token chunks
with the comma backtrack and `BREAK`, emphasis weights ("Original" restores the mean), Clip skip, textual-inversion
vectors put in place of their names, SDXL's two encoders; and the per-step conditioning of prompt editing,
alternation and `AND` (reference 3.16).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import prompts
from .models import ChunkCache, LoadedModel


@dataclass
class Chunk:
    """75 tokens (ids, or 0 under an embedding), their weights, and where embeddings go: (offset, name)."""
    tokens: List[int] = field(default_factory=list)
    multipliers: List[float] = field(default_factory=list)
    fixes: List[Tuple[int, str]] = field(default_factory=list)


@dataclass
class Encoded:
    """One text's conditioning: cross-attention states [1, 77*chunks, D] and SDXL's pooled vector."""
    hidden: torch.Tensor
    pooled: Optional[torch.Tensor]


class Chunker:
    """A1111's `tokenize_line` for one tokenizer: prompt text to 75-token chunks (tokenizer only, no model)."""

    def __init__(self, tokenizer, emphasis: str = "Original", comma_backtrack: int = 20,
                 embeddings: Optional[Dict[str, object]] = None):
        self.tokenizer = tokenizer
        self.emphasis = emphasis
        self.comma_backtrack = comma_backtrack
        self.chunk_length = tokenizer.model_max_length - 2
        self.id_start, self.id_end = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.comma_token = tokenizer.get_vocab().get(",</w>")
        self.embeddings = embeddings or {}  # name -> Embedding (networks.py); only `.vectors` is used here
        self._embedding_ids: Dict[int, List[Tuple[List[int], str]]] = {}
        names = list(self.embeddings)
        for name, ids in zip(names, self.tokenize(names) if names else []):
            if ids:
                self._embedding_ids.setdefault(ids[0], []).append((ids, name))
        for entries in self._embedding_ids.values():
            entries.sort(key=lambda e: -len(e[0]))

    def tokenize(self, texts: Sequence[str]) -> List[List[int]]:
        return self.tokenizer(list(texts), truncation=False, add_special_tokens=False)["input_ids"]

    def _embedding_at(self, tokens: List[int], position: int) -> Tuple[Optional[str], int]:
        for ids, name in self._embedding_ids.get(tokens[position], ()):
            if tokens[position:position + len(ids)] == ids:
                return name, len(ids)
        return None, 0

    def chunks(self, line: str) -> Tuple[List[Chunk], int]:
        """The chunks of one prompt (start and end tokens added, padded with the end token) and its token count."""
        if self.emphasis == "None":
            parsed = [(line, 1.0)]
        else:
            parsed = prompts.parse_emphasis(line)
        tokenized = self.tokenize([text for text, _ in parsed])
        chunks: List[Chunk] = []
        chunk = Chunk()
        token_count = 0
        last_comma = -1

        def next_chunk(is_last: bool = False) -> None:
            nonlocal token_count, last_comma, chunk
            token_count += len(chunk.tokens) if is_last else self.chunk_length
            to_add = self.chunk_length - len(chunk.tokens)
            chunk.tokens += [self.id_end] * to_add
            chunk.multipliers += [1.0] * to_add
            chunk.tokens = [self.id_start] + chunk.tokens + [self.id_end]
            chunk.multipliers = [1.0] + chunk.multipliers + [1.0]
            last_comma = -1
            chunks.append(chunk)
            chunk = Chunk()

        for tokens, (text, weight) in zip(tokenized, parsed):
            if text == prompts.BREAK and weight == -1:
                next_chunk()
                continue
            position = 0
            while position < len(tokens):
                token = tokens[position]
                if token == self.comma_token:
                    last_comma = len(chunk.tokens)
                elif (self.comma_backtrack and len(chunk.tokens) == self.chunk_length and last_comma != -1
                      and len(chunk.tokens) - last_comma <= self.comma_backtrack):
                    # the words after the last comma move to the next chunk together
                    split = last_comma + 1
                    moved_tokens, moved_mults = chunk.tokens[split:], chunk.multipliers[split:]
                    chunk.tokens, chunk.multipliers = chunk.tokens[:split], chunk.multipliers[:split]
                    next_chunk()
                    chunk.tokens, chunk.multipliers = moved_tokens, moved_mults
                if len(chunk.tokens) == self.chunk_length:
                    next_chunk()
                name, name_length = self._embedding_at(tokens, position)
                if name is None:
                    chunk.tokens.append(token)
                    chunk.multipliers.append(weight)
                    position += 1
                    continue
                vectors = self.embeddings[name].vectors
                if len(chunk.tokens) + vectors > self.chunk_length:
                    next_chunk()
                chunk.fixes.append((len(chunk.tokens), name))
                chunk.tokens += [0] * vectors
                chunk.multipliers += [weight] * vectors
                position += name_length
        if chunk.tokens or not chunks:
            next_chunk(is_last=True)
        return chunks, token_count

    def token_count(self, line: str) -> Tuple[int, int]:
        """(tokens used, the chunk size they fill: 75, 150, ...), as A1111's counter shows them."""
        _, count = self.chunks(line)
        return count, math.ceil(max(count, 1) / self.chunk_length) * self.chunk_length


class PromptEncoder:
    """Tokenizes and encodes prompts for one loaded model with the settings of one job."""

    def __init__(self, model: LoadedModel, clip_skip: int = 1, emphasis: str = "Original",
                 comma_backtrack: int = 20, embeddings: Optional[Dict[str, object]] = None,
                 shared: Optional[ChunkCache] = None):
        """`shared`: the model's cache of chunks encoded by earlier jobs (None while a LoRA changes the text
        encoder)."""
        pipe = model.pipe
        self.model, self.shared = model, shared
        self.chunker = Chunker(pipe.tokenizer, emphasis, comma_backtrack, embeddings)
        self.encoders = [e for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e is not None]
        self.pad_ids = [pipe.tokenizer.pad_token_id] + (
            [pipe.tokenizer_2.pad_token_id] if len(self.encoders) == 2 else [])
        self.clip_skip = max(1, int(clip_skip))
        self.emphasis = emphasis
        self.embeddings = self.chunker.embeddings
        self.used_embeddings: Dict[str, object] = {}
        self._cache: Dict[str, Encoded] = {}

    # -- embeddings -----------------------------------------------------------------------------------------------

    def encode(self, text: str) -> Encoded:
        """The conditioning of one text (after schedules and AND are resolved), cached per text."""
        if text not in self._cache:
            chunks, _ = self.chunker.chunks(text)
            parts = [self._encode_chunk(c) for c in chunks]
            self._cache[text] = Encoded(torch.cat([h for h, _ in parts], dim=1), parts[0][1])
        return self._cache[text]

    def _encode_chunk(self, chunk: Chunk) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self.shared is None or chunk.fixes:  # an embedding's vectors may change under the same name
            return self._run_encoders(chunk)
        key = (tuple(chunk.tokens), tuple(chunk.multipliers), self.clip_skip, self.emphasis)
        found = self.shared.get(key)
        if found is None:
            found = self.shared.put(key, self._run_encoders(chunk))
        return found

    def _run_encoders(self, chunk: Chunk) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        device = self.model.execution_device
        multipliers = torch.tensor(chunk.multipliers, device=device)
        hidden, pooled = [], None
        for k, encoder in enumerate(self.encoders):
            ids = list(chunk.tokens)
            id_end = self.chunker.id_end
            if self.pad_ids[k] is not None and self.pad_ids[k] != id_end:
                first_end = ids.index(id_end, 1)  # the pad token after the end token (OpenCLIP's padding)
                ids[first_end + 1:] = [self.pad_ids[k]] * (len(ids) - first_end - 1)
            with self._embedding_fixes(encoder, k, chunk.fixes):
                out = encoder(torch.tensor([ids], device=device), output_hidden_states=True)
            if len(self.encoders) == 2:  # SDXL: both encoders' penultimate layers, as A1111
                z = out.hidden_states[-2]
                if k == 1:
                    pooled = out.text_embeds
            elif self.clip_skip > 1:
                z = getattr(encoder, "text_model", encoder).final_layer_norm(out.hidden_states[-self.clip_skip])
            else:
                z = out.last_hidden_state
            hidden.append(self._emphasize(z, multipliers))
        return torch.cat(hidden, dim=-1), pooled

    def _emphasize(self, z: torch.Tensor, multipliers: torch.Tensor) -> torch.Tensor:
        if self.emphasis in ("Ignore", "None"):
            return z
        original_mean = z.mean()
        z = z * multipliers.to(z.dtype)[None, :, None]
        if self.emphasis == "Original":
            ratio = original_mean / z.mean()
            if torch.isfinite(ratio):  # a mean of 0 cannot be restored (never with a trained text encoder)
                z = z * ratio
        return z

    @contextlib.contextmanager
    def _embedding_fixes(self, encoder, k: int, fixes: List[Tuple[int, str]]):
        """Put each embedding's vectors where its name was (after the start token) in the token embeddings."""
        if not fixes:
            yield
            return

        def replace(_module, _inputs, output):
            output = output.clone()
            for offset, name in fixes:
                vectors = self.embeddings[name].for_encoder(k, output.shape[-1]).to(output.device, output.dtype)
                output[0, offset + 1:offset + 1 + vectors.shape[0]] = vectors
                self.used_embeddings[name] = self.embeddings[name]
            return output

        hook = encoder.get_input_embeddings().register_forward_hook(replace)
        try:
            yield
        finally:
            hook.remove()


# ---------------------------------------------------------------------------------------------------------------------
# per-step conditioning: prompt editing, alternation and AND

@dataclass
class RowGroup:
    """Rows of the stacked UNet batch that run in one UNet call, with their conditioning."""
    rows: slice
    hidden: torch.Tensor
    added: Optional[dict]


PAD_MODES = ("", "empty", "last")  # separate UNet calls (A1111's default), "Pad prompt/negative prompt", its v0


@dataclass
class Conditioning:
    """What the UNet sees at each call: the negative prompt, then each `AND` part, each a schedule of Encoded texts
    over the sampler's total steps. `at(call)` stacks them for a batch (negative first when CFG is on).

    Lengths as A1111 handles them: the parts in force are padded to the longest by repeating their last vector
    (`reconstruct_multicond_batch`); a negative prompt of another length runs in its own UNet call, unless
    `pad_mode` pads the shorter side with the empty prompt's chunks ("empty") or its last vector ("last")."""
    negative: List[Tuple[int, Encoded]]
    parts: List[Tuple[float, List[Tuple[int, Encoded]]]]
    batch_size: int
    do_cfg: bool
    time_ids: Optional[torch.Tensor] = None  # SDXL's size ids for one prompt row
    negative_time_ids: Optional[torch.Tensor] = None  # and for the negative row (they differ for a refiner)
    pad_mode: str = ""
    empty: Optional[Encoded] = None  # the empty prompt, for pad_mode "empty"
    _stacked: Dict[tuple, List[RowGroup]] = field(default_factory=dict)

    @property
    def weights(self) -> List[float]:
        return [w for w, _ in self.parts]

    @property
    def rows(self) -> int:
        """UNet rows per picture: the negative prompt (with CFG), then each AND part."""
        return len(self.parts) + self.do_cfg

    @property
    def padded(self) -> bool:
        """Whether some call pads the negative prompt or the prompt to the other's length (A1111's "Pad conds")."""
        lengths = lambda schedule: {e.hidden.shape[1] for _, e in schedule}  # noqa: E731
        negative = lengths(self.negative)
        return bool(self.pad_mode) and self.do_cfg and any(lengths(s) != negative for _, s in self.parts)

    def uncond_rows(self, output: torch.Tensor) -> torch.Tensor:
        return output[:self.batch_size] if self.do_cfg else output

    def texts_at(self, step: int) -> Tuple[Encoded, List[Encoded]]:
        return _pick(self.negative, step), [_pick(s, step) for _, s in self.parts]

    def at(self, step: int) -> List[RowGroup]:
        negative, parts = self.texts_at(step)
        key = tuple(id(r) for r in [negative] + parts)
        if key not in self._stacked:
            parts = _pad_last(parts, max(p.hidden.shape[1] for p in parts))
            if not self.do_cfg:
                groups = [self._group(parts, [], 0)]
            elif negative.hidden.shape[1] == parts[0].hidden.shape[1]:
                groups = [self._group(parts, [negative], 0)]
            elif self.pad_mode:
                negative, parts = self._pad_pair(negative, parts)
                groups = [self._group(parts, [negative], 0)]
            else:
                groups = [self._group([], [negative], 0), self._group(parts, [], self.batch_size)]
            self._stacked = {key: groups}  # one entry: a schedule moves forward only
        return self._stacked[key]

    def parts_at(self, step: int) -> RowGroup:
        """The parts alone, for a call without the negative prompt."""
        _, parts = self.texts_at(step)
        return self._group(_pad_last(parts, max(p.hidden.shape[1] for p in parts)), [], 0)

    def _pad_pair(self, negative: Encoded, parts: List[Encoded]) -> Tuple[Encoded, List[Encoded]]:
        length = parts[0].hidden.shape[1]
        if self.pad_mode == "last":  # v0: the negative prompt's last vector repeated, or the negative cut
            if negative.hidden.shape[1] > length:
                return Encoded(negative.hidden[:, :length], negative.pooled), parts
            return _pad_last([negative], length)[0], parts
        longest = max(length, negative.hidden.shape[1])
        return _pad_to(negative, longest, self.empty), [_pad_to(p, longest, self.empty) for p in parts]

    def _group(self, parts: List[Encoded], negatives: List[Encoded], start: int) -> RowGroup:
        # repeated, not expanded: a stride-0 batch takes other kernels, and a picture of a batch must equal the
        # same picture made alone
        rows = negatives + parts
        hidden = torch.cat([r.hidden.repeat(self.batch_size, 1, 1) for r in rows])
        added = None
        if self.time_ids is not None:
            pooled = torch.cat([r.pooled.repeat(self.batch_size, 1) for r in rows])
            time_ids = [self.negative_time_ids] * len(negatives) + [self.time_ids] * len(parts)
            added = {"text_embeds": pooled, "time_ids": torch.cat([t.repeat(self.batch_size, 1) for t in time_ids])}
        return RowGroup(slice(start, start + len(rows) * self.batch_size), hidden, added)

    def combine(self, noise_pred: torch.Tensor, cfg_scale: float) -> torch.Tensor:
        """CFG over the AND parts: uncond + scale * sum(weight * (cond_i - uncond)) (A1111's `combine_denoised`)."""
        if not self.do_cfg:
            return noise_pred
        rows = noise_pred.split(self.batch_size)
        uncond = rows[0]
        out = uncond.clone()
        for weight, cond in zip(self.weights, rows[1:]):
            out += (cond - uncond) * (weight * cfg_scale)
        return out


def _pick(schedule: List[Tuple[int, Encoded]], step: int) -> Encoded:
    """The entry in force at model call `step` (counted from 0, as A1111's denoiser counts; the schedule's steps
    count from 1, so a switch at step 10 of 20 gives the first prompt 11 calls): the first whose last step is not
    before it."""
    for end, encoded in schedule:
        if step <= end:
            return encoded
    return schedule[-1][1]


def _pad_last(texts: List[Encoded], length: int) -> List[Encoded]:
    """Shorter texts padded to `length` by repeating their last vector."""
    def pad(e: Encoded) -> Encoded:
        missing = length - e.hidden.shape[1]
        return e if missing <= 0 else Encoded(torch.cat([e.hidden, e.hidden[:, -1:].repeat(1, missing, 1)], dim=1),
                                              e.pooled)
    return [pad(e) for e in texts]


def _pad_to(encoded: Encoded, length: int, empty: Encoded) -> Encoded:
    missing = (length - encoded.hidden.shape[1]) // empty.hidden.shape[1]
    if missing <= 0:
        return encoded
    hidden = torch.cat([encoded.hidden] + [empty.hidden] * missing, dim=1)
    return Encoded(hidden, encoded.pooled)


def build_conditioning(encoder: PromptEncoder, prompt: str, negative_prompt: str, steps: int, batch_size: int,
                       cfg_scale: float, size: Tuple[int, int], pad_mode: str = "") -> Conditioning:
    """Encode every text the schedules use, once; `size` is (width, height)."""
    width, height = size
    parts = prompts.split_and(prompt)
    do_cfg = cfg_scale > 1 or len(parts) > 1
    negative = [(end, encoder.encode(text)) for end, text in prompts.prompt_schedule(negative_prompt, steps)]
    if encoder.model.is_sdxl and negative_prompt == "":  # A1111 zeroes an empty negative prompt on SDXL
        negative = [(end, Encoded(torch.zeros_like(e.hidden), torch.zeros_like(e.pooled))) for end, e in negative]
    scheduled = [(weight, [(end, encoder.encode(t)) for end, t in prompts.prompt_schedule(text, steps)])
                 for text, weight in parts]
    if len(parts) == 1 and not do_cfg:
        scheduled = [(1.0, scheduled[0][1])]
    empty = encoder.encode("") if pad_mode == "empty" else None
    time_ids = negative_time_ids = None
    if encoder.model.is_sdxl:
        size_ids = [height, width, 0, 0]
        if encoder.model.pipe.config.get("requires_aesthetics_score", False):
            ids, negative_ids = size_ids + [6.0], size_ids + [2.5]
        else:
            ids = negative_ids = size_ids + [height, width]
        as_tensor = lambda v: torch.tensor([v], device=encoder.model.execution_device,  # noqa: E731
                                           dtype=negative[0][1].hidden.dtype)
        time_ids, negative_time_ids = as_tensor(ids), as_tensor(negative_ids)
    return Conditioning(negative, scheduled, batch_size, do_cfg, time_ids, negative_time_ids, pad_mode, empty)


def prompt_token_count(model: LoadedModel, prompt: str, steps: int, emphasis: str = "Original",
                       embeddings: Optional[Dict[str, object]] = None) -> Tuple[int, int]:
    """A1111's token counter: (tokens, chunk size) of the longest text the prompt becomes at any step."""
    text, _ = prompts.extract_extra_networks(prompts.strip_comments(prompt))
    chunker = Chunker(model.pipe.tokenizer, emphasis, embeddings=embeddings)
    texts = [t for part, _ in prompts.split_and(text) for _, t in prompts.prompt_schedule(part, steps)]
    return max((chunker.token_count(t) for t in texts), key=lambda c: c[0])
