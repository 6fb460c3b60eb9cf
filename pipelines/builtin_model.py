"""The built-in model: a tiny Stable-Diffusion-architecture model with seeded random weights.

It keeps SD's geometry (VAE scale factor 8, 4 latent channels, 77-token prompts) so sizes, crops and latent masks
behave as with a real checkpoint, while a 512x512 step costs a fraction of a second on a CPU. Its pictures are noise.
It is written once, in diffusers layout, to a cache folder, and loaded from there like any other diffusers folder.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

BUILTIN_PREFIX = "builtin:"
BUILTIN_VARIANTS = {"tiny": 4, "tiny-inpainting": 9}  # name -> UNet input channels
BUILTIN_VERSION = "v2"
SEED = 1234


def cache_root() -> Path:
    base = os.environ.get("IMG2IMG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "img2img-webui")
    return Path(base)


def byte_level_vocabulary() -> dict:
    """CLIP's byte-to-unicode table: every byte as a printable character, alone and as a word end, plus the
    start and end tokens. (transformers 5 no longer exports `bytes_to_unicode`.)"""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    symbols = [chr(c) for c in chars]
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}


def byte_level_tokenizer(folder: Path):
    """A CLIPTokenizer on the byte-level vocabulary, its files written to `folder` (no merges: one token a byte)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(byte_level_vocabulary()), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77,
                         pad_token="<|endoftext|>")


def build(folder: Path, in_channels: int) -> None:
    """Create the model with seeded random weights and save it in diffusers layout."""
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = byte_level_tokenizer(folder / "tokenizer")
    vocab = tokenizer.get_vocab()

    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, projection_dim=32, bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"]))
    # A trained CLIP's last layer norm has learned weights; freshly made ones (1 and 0) would give every token state
    # a mean of exactly 0, which A1111's emphasis (rescaled to the original mean) cannot work with.
    final_norm = getattr(text_encoder, "text_model", text_encoder).final_layer_norm  # transformers 5 drops the level
    with torch.no_grad():
        final_norm.weight.copy_(1 + 0.1 * torch.randn_like(final_norm.weight))
        final_norm.bias.copy_(0.2 + 0.5 * torch.randn_like(final_norm.bias))
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=in_channels, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, block_out_channels=(32, 32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
        sample_size=512)
    # SD 1.5's noise schedule.
    scheduler = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            num_train_timesteps=1000, steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


def ensure_builtin(variant: str) -> Path:
    """The folder of a built-in variant, created on first use (atomically, so an interrupted build is never used)."""
    if variant not in BUILTIN_VARIANTS:
        raise ValueError(f"unknown built-in model {variant!r}; known: "
                         + ", ".join(BUILTIN_PREFIX + v for v in BUILTIN_VARIANTS))
    folder = cache_root() / f"builtin-{variant}-{BUILTIN_VERSION}"
    if (folder / "model_index.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".builtin-{variant}-", dir=folder.parent))
    try:
        build(staging / "model", BUILTIN_VARIANTS[variant])
        try:
            os.replace(staging / "model", folder)
        except OSError:
            if not (folder / "model_index.json").exists():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
