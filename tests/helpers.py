"""Pictures the tests make: seeded noise, so that any change of a pixel shows."""
import numpy as np
from PIL import Image


def noise_image(width, height, seed=0, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.RandomState(seed).randint(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if mode == "L" else array, mode)


def rect_mask(width, height, box, mode="L"):
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, box)
    return mask.convert(mode)


def pixels(image):
    return np.asarray(image.convert("RGB")).astype(np.int16)


def write_single_file(folder, path):
    """A diffusers SD 1.x folder (the built-in model) as one `.safetensors` in the original SD key layout, as
    A1111's checkpoints are."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file, save_file

    from pipelines.ldm_layout import TEXT_ENCODER_PREFIX, UNET_PREFIX, VAE_PREFIX, unet_to_ldm, vae_to_ldm

    unet_config = UNet2DConditionModel.load_config(f"{folder}/unet")
    vae_config = AutoencoderKL.load_config(f"{folder}/vae")
    state = {}
    unet = unet_to_ldm(load_file(f"{folder}/unet/diffusion_pytorch_model.safetensors"), unet_config)
    state.update({UNET_PREFIX + k: v for k, v in unet.items()})
    vae = vae_to_ldm(load_file(f"{folder}/vae/diffusion_pytorch_model.safetensors"), vae_config)
    state.update({VAE_PREFIX + k: v for k, v in vae.items()})
    text = load_file(f"{folder}/text_encoder/model.safetensors")
    # transformers 5 saves without the `text_model.` level that A1111's checkpoints have
    state.update({TEXT_ENCODER_PREFIX + ("" if k.startswith("text_model.") else "text_model.") + k: v
                  for k, v in text.items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
