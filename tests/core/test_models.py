"""Checkpoints: listing, resolving, hashing, and a real diffusers folder of another family (SDXL) loaded from disk."""
import hashlib

import numpy as np
import pytest
import torch

from pipelines import Folders, Job, ModelLoadError, build_services
from pipelines.builtin_model import byte_level_tokenizer, ensure_builtin
from pipelines.models import list_checkpoints, model_hash, resolve_checkpoint, weight_files
from tests.conftest import done_of
from tests.helpers import noise_image, pixels, rect_mask


def build_tiny_sdxl(folder):
    """SDXL's architecture (two text encoders, pooled text and size conditioning) at toy size, random weights."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = byte_level_tokenizer(folder / "tok")
    vocab = tokenizer.get_vocab()
    text_config = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
                       bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                       pad_token_id=vocab["<|endoftext|>"])
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=(32, 32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=32,
                        sample_size=128)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=CLIPTextModel(CLIPTextConfig(**text_config)),
                                     text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text_config)),
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder / "tiny-sdxl", safe_serialization=True)
    return folder / "tiny-sdxl"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    build_tiny_sdxl(root)
    return root


def test_checkpoints_are_listed_from_the_folder_then_the_builtin_ones(models_dir):
    titles = [c.title for c in list_checkpoints(str(models_dir))]
    assert titles == ["tiny-sdxl", "builtin:tiny", "builtin:tiny-inpainting"]
    assert resolve_checkpoint(None, str(models_dir)).title == "tiny-sdxl"  # a real checkpoint comes first
    assert resolve_checkpoint(None, str(models_dir / "nothing-here")).title == "builtin:tiny"


def test_unknown_checkpoints_are_clear_errors(models_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="unknown built-in model 'builtin:huge'"):
        resolve_checkpoint("builtin:huge", str(models_dir))
    with pytest.raises(ModelLoadError, match="not a diffusers model"):
        resolve_checkpoint(str(tmp_path), str(models_dir))
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_checkpoint(str(tmp_path / "missing" / "model"), str(models_dir))


def test_model_hash_is_sha256_of_the_weights(tmp_path):
    folder = ensure_builtin("tiny")
    digest = hashlib.sha256()
    for path in weight_files(folder):
        digest.update(path.read_bytes())
    assert model_hash(folder) == digest.hexdigest()[:10]
    assert model_hash(folder) == model_hash(folder)  # and from the cache


def test_builtin_model_keeps_sd_geometry():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    folder = ensure_builtin("tiny")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    assert 2 ** (len(vae.config.block_out_channels) - 1) == 8 and vae.config.latent_channels == 4
    assert UNet2DConditionModel.from_pretrained(ensure_builtin("tiny-inpainting") / "unet").config.in_channels == 9


def test_an_sdxl_folder_loads_and_runs_img2img_and_inpaint(models_dir, tmp_path):
    services = build_services(None, Folders(ckpt_dir=str(models_dir), outdir=str(tmp_path)))
    try:
        assert services.models.model.is_sdxl and services.models.notices == []
        source = noise_image(128, 128)
        done = done_of(services, Job(init_images=[source], steps=4, width=128, height=128, seed=2, prompt="x"))
        assert done.images[0].size == (128, 128) and "Model: tiny-sdxl," in done.infotexts[0]
        mask = rect_mask(128, 128, (32, 32, 96, 96))
        done = done_of(services, Job(init_images=[source], mask=mask, steps=4, width=128, height=128, seed=2))
        out = pixels(done.images[0])
        assert np.array_equal(out[:16], pixels(source)[:16])
        assert (out[48:80, 48:80] != pixels(source)[48:80, 48:80]).any()
        services.models.load("builtin:tiny")  # switching checkpoints
        assert not services.models.model.is_sdxl and f"under {models_dir} or pass --ckpt" in services.models.notices[0]
    finally:
        services.close()


def test_the_built_in_models_notice_names_the_flag_when_no_checkpoint_folder_is_set():
    services = build_services("builtin:tiny", Folders(ckpt_dir=None, outdir=None))
    try:
        notice, = services.models.notices
        assert "its pictures are noise" in notice and "under a folder named by --ckpt-dir" in notice
        assert "None" not in notice
    finally:
        services.close()


def test_sdxl_loras_with_original_block_names_and_two_encoder_embeddings(models_dir, tmp_path):
    """kohya's SDXL LoRAs name UNet layers by the original SD blocks and the encoders te1 / te2; SDXL embeddings
    carry clip_l and clip_g vectors."""
    from safetensors.torch import save_file

    from pipelines.networks import lora_targets
    from tests.helpers import write_lora
    (tmp_path / "Lora").mkdir()
    (tmp_path / "embeddings").mkdir()
    services = build_services("tiny-sdxl", Folders(ckpt_dir=str(models_dir), outdir=None,
                                                   lora_dir=str(tmp_path / "Lora"),
                                                   embeddings_dir=str(tmp_path / "embeddings")))
    try:
        before = {k: v.clone() for k, v in services.models.model.pipe.unet.state_dict().items()}
        write_lora(services.models.model.pipe, tmp_path / "Lora" / "xl.safetensors", kind="kohya-ldm")
        lora = services.models.library.loras.load("xl")
        targets = lora_targets(services.models.model.pipe)
        assert all(prefix in targets for prefix in lora.groups)  # every layer found, UNet by its LDM name
        assert any(p.startswith("lora_unet_input_blocks_") for p in lora.groups)
        assert any(p.startswith("lora_te2_") for p in lora.groups)

        def picture(prompt):
            job = Job(init_images=[noise_image(128, 128)], steps=3, width=128, height=128, seed=2, prompt=prompt)
            return pixels(done_of(services, job).images[0])

        plain = picture("a cat zzxl")
        assert np.array_equal(picture("a cat zzxl <lora:xl:0>"), plain)
        assert not np.array_equal(picture("a cat zzxl <lora:xl:1>"), plain)
        assert all(torch.equal(before[k], v) for k, v in services.models.model.pipe.unet.state_dict().items())
        generator = torch.Generator().manual_seed(0)
        vectors = {"clip_l": torch.randn(2, 32, generator=generator), "clip_g": torch.randn(2, 32, generator=generator)}
        save_file(vectors, str(tmp_path / "embeddings" / "zzxl.safetensors"))
        assert not np.array_equal(picture("a cat zzxl"), plain)
    finally:
        services.close()


@pytest.mark.parametrize("structure", ["sd15", "sdxl"])
def test_original_unet_names_match_diffusers_own_converter(models_dir, structure):
    """`ldm_layout` names every UNet weight as the original checkpoints do: diffusers' converter, which reads that
    layout, gives back the same weights (SD 1.5's block structure at toy width, and the tiny SDXL's)."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from tests.ldm_convert import UNET_PREFIX, unet_to_ldm
    if structure == "sdxl":
        unet = UNet2DConditionModel.from_pretrained(models_dir / "tiny-sdxl" / "unet")
    else:
        torch.manual_seed(0)
        unet = UNet2DConditionModel(block_out_channels=(32, 32, 64, 64), layers_per_block=2, norm_num_groups=32,
                                    cross_attention_dim=32, attention_head_dim=8, sample_size=16)
    state = unet.state_dict()
    ldm = {UNET_PREFIX + k: v for k, v in unet_to_ldm(state, unet.config).items()}
    back = convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
