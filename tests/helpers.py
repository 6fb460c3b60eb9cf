"""Pictures the tests make: seeded noise, so that any change of a pixel shows."""
from pathlib import Path

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

    from tests.ldm_convert import TEXT_ENCODER_PREFIX, UNET_PREFIX, VAE_PREFIX, unet_to_ldm, vae_to_ldm

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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_lora(pipe, path, rank=4, seed=0, kind="kohya", scale=0.5):
    """A LoRA with random weights for the attention projections of `pipe`'s UNet and text encoder(s), in kohya's
    format (`lora_unet_...lora_down.weight` with alpha; kind "kohya-ldm" names UNet layers as SDXL LoRAs do, by the
    original SD blocks) or diffusers/PEFT's (`unet....lora_A.weight`)."""
    import torch
    from safetensors.torch import save_file

    from pipelines.ldm_layout import unet_ldm_name

    generator = torch.Generator().manual_seed(seed)
    two = getattr(pipe, "text_encoder_2", None) is not None
    parts = [(pipe.unet, "lora_unet_", "unet.")]
    parts += [(pipe.text_encoder, "lora_te1_" if two else "lora_te_", "text_encoder.")]
    parts += [(pipe.text_encoder_2, "lora_te2_", "text_encoder_2.")] if two else []
    state = {}
    for model, kohya, peft in parts:
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear) or name.split(".")[-1] not in ("to_q", "to_v", "q_proj",
                                                                                      "v_proj"):
                continue
            down = torch.randn(rank, module.in_features, generator=generator) * scale
            up = torch.randn(module.out_features, rank, generator=generator) * scale
            full = name if model is pipe.unet or name.startswith("text_model.") else "text_model." + name
            if kind == "kohya-ldm" and model is pipe.unet:
                full = unet_ldm_name(name, pipe.unet.config)
            if kind.startswith("kohya"):
                key = kohya + full.replace(".", "_")
                state[key + ".lora_down.weight"], state[key + ".lora_up.weight"] = down, up
                state[key + ".alpha"] = torch.tensor(float(rank))
            else:
                state[peft + full + ".lora_A.weight"], state[peft + full + ".lora_B.weight"] = down, up
    save_file(state, str(path))
    return path


def write_embedding(path, vectors=2, dim=32, seed=0):
    """A textual-inversion embedding with random vectors: A1111's `.pt` layout or a `.safetensors` (emb_params)."""
    import torch

    tensor = torch.randn(vectors, dim, generator=torch.Generator().manual_seed(seed))
    if str(path).endswith(".pt"):
        torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": tensor}, "name": "x", "step": 100,
                    "sd_checkpoint": None, "sd_checkpoint_name": None}, str(path))
    else:
        from safetensors.torch import save_file
        save_file({"emb_params": tensor}, str(path))
    return path


def write_vae(folder, path, noise=0.0, seed=0):
    """The built-in model's VAE as an A1111 VAE file (LDM names), its weights moved by `noise` (0: the same VAE)."""
    import torch
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file, save_file

    from tests.ldm_convert import vae_to_ldm

    config = AutoencoderKL.load_config(f"{folder}/vae")
    state = load_file(f"{folder}/vae/diffusion_pytorch_model.safetensors")
    generator = torch.Generator().manual_seed(seed)
    state = {k: v + noise * torch.randn(v.shape, generator=generator) * v.std().nan_to_num(0) if v.dim() > 1 else v
             for k, v in state.items()}
    save_file({k: v.contiguous() for k, v in vae_to_ldm(state, config).items()}, str(path))
    return path


def patterned_fp16(module):
    """A module built on the meta device, given fp16 storage and cheap, distinct, deterministic weights (a real-sized
    model without the seconds a random initialisation takes)."""
    import torch

    module = module.half().to_empty(device="cpu")
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(((torch.arange(p.numel(), dtype=torch.float32) % 97 + i) / 97).reshape(p.shape))
    return module


def openclip_layout(state, prefix):
    """A transformers CLIP text encoder's state dict in OpenCLIP's layout, as SD 2.x and SDXL checkpoints hold their
    OpenCLIP encoders (q, k and v in one `in_proj`, the projection transposed)."""
    import torch

    renames = (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
               ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"))
    out = {}
    for key, value in state.items():
        k = key.removeprefix("text_model.")
        if k == "embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = value
        elif k == "embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = value
        elif k.startswith("final_layer_norm."):
            out[prefix + "ln_final." + k.split(".")[-1]] = value
        elif k == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif k.startswith("encoder.layers."):
            _, _, layer, rest = k.split(".", 3)
            base = f"{prefix}transformer.resblocks.{layer}."
            if rest.startswith("self_attn.q_proj."):
                kind = rest.rsplit(".", 1)[-1]
                out[base + f"attn.in_proj_{kind}"] = torch.cat(
                    [state[key.replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")])
            elif not rest.startswith(("self_attn.k_proj.", "self_attn.v_proj.")):
                for old, new in renames:
                    rest = rest.replace(old, new)
                out[base + rest] = value
        else:
            raise KeyError(f"no OpenCLIP name for {key}")
    return out


def write_esrgan(path, scale=4, seed=0):
    """An ESRGAN (RRDBNet) upscaler file with seeded random weights: the real architecture, at a tiny width, in the
    key layout A1111's ESRGAN files have, for spandrel to detect."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return Path(path)


def write_gfpgan(path, seed=0):
    """A GFPGAN (v1 clean, 512) restorer with seeded random weights, in half precision to keep the file small."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(seed)
    model = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                   num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(path))
    return Path(path)


# Five landmarks of a frontal face, as offsets from the face's centre in units of its size (eyes, nose, mouth).
FACE_TEMPLATE = ((-0.17, -0.1), (0.17, -0.1), (0.0, 0.05), (-0.13, 0.2), (0.13, 0.2))


def write_facexlib_weights(folder, seed=0):
    """facexlib's two files, at the real architectures (RetinaFace on ResNet-50, ParseNet): random weights, except
    the detection heads, set so that exactly one face is found: only the largest anchors say "face", their boxes are
    widened until any two overlap (non-maximum suppression keeps one), and the landmarks form a face around it."""
    import torch
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    detector = RetinaFace(network_name="resnet50", half=False, device="cpu")
    with torch.no_grad():
        for level in range(3):
            heads = (detector.ClassHead[level].conv1x1, detector.BboxHead[level].conv1x1,
                     detector.LandmarkHead[level].conv1x1)
            for head in heads:
                head.weight.zero_()
                head.bias.zero_()
            face = 10.0 if level == 2 else -10.0  # of each location's two anchors, the larger one at the coarsest level
            heads[0].bias.copy_(torch.tensor([10.0, -10.0, -face, face]))
            heads[1].bias.copy_(torch.tensor([0.0, 0.0, 10.0, 10.0] * 2))  # size x e^(10 x 0.2): huge boxes
            landmarks = [v / 0.1 for point in FACE_TEMPLATE for v in point]  # decoded with variance 0.1
            heads[2].bias.copy_(torch.tensor(landmarks * 2))
    torch.save({k: v.half() for k, v in detector.state_dict().items()}, folder / "detection_Resnet50_Final.pth")
    parser = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    torch.save({k: v.half() for k, v in parser.state_dict().items()}, folder / "parsing_parsenet.pth")
    return folder


def write_codeformer(path, seed=0):
    """A CodeFormer restorer (spandrel-extra-arches' architecture) with seeded random weights, in half precision."""
    import torch
    from safetensors.torch import save_file
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.manual_seed(seed)
    model = CodeFormer()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(path))
    return Path(path)
