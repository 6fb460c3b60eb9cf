"""Between pictures and latents: VAE encoding with A1111's per-picture posterior sampling, decoding, the live preview,
and the inpainting models' extra UNet channels."""
from __future__ import annotations

import hashlib
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .models import LoadedModel
from .noise import randn
from .preparation import PreparedImages

# A linear map from SD's four latent channels to RGB: a live preview for almost nothing.
LATENT_RGB_FACTORS = torch.tensor([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173],
                                   [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]])
LATENT_RGB_FACTORS_XL = torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                                      [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]])


def pil_to_tensor(images: List[Image.Image]) -> torch.Tensor:
    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images]) / 127.5 - 1
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def encode_images(model: LoadedModel, pixels: torch.Tensor, seeds: List[int]) -> torch.Tensor:
    """VAE-encode a batch in [-1, 1], sampling the posterior with each picture's seed (as A1111 samples it).
    Identical pictures (one init picture for a whole batch) are encoded once."""
    vae = model.pipe.vae
    unique, index = [], []
    for p in pixels:
        for k, u in enumerate(unique):
            if p is u or torch.equal(p, u):
                index.append(k)
                break
        else:
            index.append(len(unique))
            unique.append(p)
    mean, std = posterior(model, torch.stack(unique))
    latents = torch.stack([mean[k] + std[k] * randn(s, tuple(mean.shape[1:])).to(mean.device, mean.dtype)
                           for k, s in zip(index, seeds)])
    return (latents * vae.config.scaling_factor).to(model.dtype)


def posterior(model: LoadedModel, pixels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The VAE encoder's mean and standard deviation for a batch of pictures. A batch this VAE has encoded before,
    in the same state (weights, dtype, tiling, padding), is not encoded again: the same init picture with another
    seed or prompt, each batch of a batch count, an inpainting model's masked picture. What comes back is what
    the encoder gave then, so the pictures are the same; ComfyUI's users expect this (it re-runs only what
    changed)."""
    vae = model.pipe.vae
    conv_in = getattr(getattr(vae, "encoder", None), "conv_in", None)
    digest = hashlib.blake2b(pixels.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).digest()
    key = (model.vae_path, model.vae_dtype, getattr(vae, "use_tiling", False),
           getattr(conv_in, "padding_mode", None), pixels.dtype, tuple(pixels.shape), digest)
    found = model.encodings.get(key)
    if found is not None:
        return found
    pixels = pixels.to(model.execution_device, model.vae_dtype)
    dist = vae.encode(pixels.contiguous(memory_format=model.memory_format)).latent_dist
    return model.encodings.put(key, (dist.mean, dist.std))


def decode_latents(model: LoadedModel, latents: torch.Tensor) -> List[Image.Image]:
    vae = model.pipe.vae
    latents = latents.to(model.vae_dtype) / vae.config.scaling_factor
    latents = latents.contiguous(memory_format=model.memory_format)
    pixels = vae.decode(latents, return_dict=False)[0]
    # A1111's conversion: (x + 1) / 2, clamped, times 255, truncated to 8 bits
    array = (255. * torch.clamp((pixels.float() + 1.0) / 2.0, min=0.0, max=1.0).permute(0, 2, 3, 1).cpu().numpy())
    array = array.astype(np.uint8)
    return [Image.fromarray(a) for a in array]


def latent_preview(model: LoadedModel, latents: torch.Tensor) -> Image.Image:
    factors = LATENT_RGB_FACTORS_XL if model.is_sdxl else LATENT_RGB_FACTORS
    rgb = torch.einsum("chw,cr->hwr", latents[0].float().cpu(), factors)
    array = ((rgb + 1) / 2).clamp(0, 1).numpy() * 255
    image = Image.fromarray(array.astype(np.uint8))
    return image.resize((image.width * 4, image.height * 4), Image.BILINEAR)


def inpainting_conditioning(model: LoadedModel, prepared: PreparedImages, weight: float, round_mask: bool,
                            seeds: List[int], latent_size) -> torch.Tensor:
    """A1111's `inpainting_image_conditioning`: the picture with the hole blanked by `inpainting_mask_weight`
    (lerp in [-1, 1] space), VAE-encoded, behind the mask at latent size. No mask: all of it is the hole."""
    source = pil_to_tensor(prepared.images)
    if prepared.image_mask is not None:
        cmask = torch.from_numpy(np.asarray(prepared.image_mask.convert("L"), dtype=np.float32) / 255)[None, None]
        if round_mask:
            cmask = torch.round(cmask)
    else:
        cmask = torch.ones(1, 1, *source.shape[2:])
    cond_image = torch.lerp(source, source * (1 - cmask), weight)
    cond_latents = encode_images(model, cond_image, seeds)
    small = F.interpolate(cmask, size=latent_size).expand(len(seeds), -1, -1, -1)
    return torch.cat([small.to(cond_latents.device, cond_latents.dtype), cond_latents], dim=1)
