"""The small files diffusers would fetch from the hub to load a single-file checkpoint, made here instead.

For each model family (SD 1.x, SD 2.x, SDXL and their 9-channel inpainting variants) this writes a weightless
diffusers folder (model_index.json, each component's config, the CLIP tokenizer) into the cache, and
`from_single_file(..., config=<that folder>, local_files_only=True)` loads a checkpoint with it offline.
The configs are the published ones of stable-diffusion-v1-5, stable-diffusion-2-1, stable-diffusion-xl-base-1.0 and
their inpainting models; the tokenizer is made from CLIP's BPE merges (`configs/clip/`, from open_clip, MIT licence).
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict

from .builtin_model import byte_level_vocabulary, cache_root

CONFIG_VERSION = "v1"
BPE_FILE = Path(__file__).parent / "configs" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
FAMILIES = ("v1", "inpainting", "v2", "v2-v", "inpainting_v2", "xl_base", "xl_inpaint")

_SD_SCHEDULER = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False,
                 "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None, "clip_sample": False,
                 "prediction_type": "epsilon"}
_XL_SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "beta_start": 0.00085, "num_train_timesteps": 1000, "steps_offset": 1, "trained_betas": None,
                 "interpolation_type": "linear", "use_karras_sigmas": False, "timestep_spacing": "leading",
                 "prediction_type": "epsilon", "sample_max_value": 1.0}
_VAE = {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
        "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
        "sample_size": 512, "scaling_factor": 0.18215}
_CLIP_L = {"architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 2,
           "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0, "initializer_range": 0.02,
           "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
           "model_type": "clip_text_model", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
           "projection_dim": 768, "vocab_size": 49408}
_OPENCLIP_H = dict(_CLIP_L, hidden_act="gelu", hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                   num_hidden_layers=23, projection_dim=512)
_OPENCLIP_BIGG = dict(_CLIP_L, architectures=["CLIPTextModelWithProjection"], hidden_act="gelu", hidden_size=1280,
                      intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32, projection_dim=1280)
_SD1_UNET = {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
             "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False, "cross_attention_dim": 768,
             "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "downsample_padding": 1,
             "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
             "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4,
             "sample_size": 64, "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
_SD2_UNET = dict(_SD1_UNET, attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True,
                 sample_size=96)
_XL_UNET = dict(_SD1_UNET, attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280],
                cross_attention_dim=2048, down_block_types=["DownBlock2D"] + ["CrossAttnDownBlock2D"] * 2,
                up_block_types=["CrossAttnUpBlock2D"] * 2 + ["UpBlock2D"], transformer_layers_per_block=[1, 2, 10],
                use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                projection_class_embeddings_input_dim=2816, sample_size=128)


def family_configs(family: str) -> Dict[str, dict]:
    """Component name -> config for one family (tokenizers are written separately)."""
    if family in ("xl_base", "xl_inpaint"):
        unet = dict(_XL_UNET, in_channels=9 if family == "xl_inpaint" else 4)
        return {"model_index": {"_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": True,
                                "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                                "text_encoder": ["transformers", "CLIPTextModel"],
                                "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                                "tokenizer": ["transformers", "CLIPTokenizer"],
                                "tokenizer_2": ["transformers", "CLIPTokenizer"],
                                "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
                "scheduler": _XL_SCHEDULER, "text_encoder": _CLIP_L, "text_encoder_2": _OPENCLIP_BIGG, "unet": unet,
                "vae": dict(_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)}
    if family in ("v1", "inpainting"):
        unet, text, scheduler = _SD1_UNET, _CLIP_L, _SD_SCHEDULER
    elif family in ("v2", "v2-v", "inpainting_v2"):
        unet, text = _SD2_UNET, _OPENCLIP_H
        scheduler = dict(_SD_SCHEDULER, prediction_type="v_prediction" if family == "v2-v" else "epsilon")
        if family != "v2-v":
            unet = dict(unet, sample_size=64)
    else:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    unet = dict(unet, in_channels=9 if "inpainting" in family else 4)
    return {"model_index": {"_class_name": "StableDiffusionPipeline", "requires_safety_checker": False,
                            "feature_extractor": [None, None], "safety_checker": [None, None],
                            "scheduler": ["diffusers", "PNDMScheduler"],
                            "text_encoder": ["transformers", "CLIPTextModel"],
                            "tokenizer": ["transformers", "CLIPTokenizer"],
                            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
            "scheduler": scheduler, "text_encoder": text, "unet": unet, "vae": _VAE}


def clip_vocabulary() -> tuple:
    """CLIP's vocabulary and merges, made from the BPE merges file as OpenAI's tokenizer makes them."""
    with gzip.open(BPE_FILE, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    bytes_and_words = [t for t in byte_level_vocabulary() if not t.startswith("<|")]
    tokens = bytes_and_words + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_tokenizer(folder: Path, pad_token: str) -> None:
    vocab, merges = clip_vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": pad_token,
        "do_lower_case": True, "errors": "replace"}), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": pad_token}), encoding="utf-8")


def config_folder(family: str) -> Path:
    """The weightless diffusers folder of a family, written once into the cache (atomically)."""
    folder = cache_root() / "configs" / f"{family}-{CONFIG_VERSION}"
    if (folder / "model_index.json").exists():
        return folder
    configs = family_configs(family)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=folder.parent))
    for name, config in configs.items():
        path = staging / ("model_index.json" if name == "model_index" else f"{name}/config.json")
        if name == "scheduler":
            path = staging / "scheduler" / "scheduler_config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    # SD 1.x pads with the end token; OpenCLIP (SD 2.x, SDXL's second encoder) with "!"
    write_tokenizer(staging / "tokenizer", "<|endoftext|>" if family in ("v1", "inpainting") or
                    family.startswith("xl") else "!")
    if family.startswith("xl"):
        write_tokenizer(staging / "tokenizer_2", "!")
    try:
        os.replace(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (folder / "model_index.json").exists():  # not a concurrent writer that finished first
            raise
    return folder
