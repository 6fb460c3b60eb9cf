"""What users bring from A1111: LoRAs, embeddings, VAEs, styles and single-file checkpoints, made by test helpers with
random weights (or as copies of the built-in model) and used through the services, offline."""
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pipelines import Failed, Folders, Job, ModelLoadError, build_services
from pipelines.builtin_model import ensure_builtin
from pipelines.infotext import parse_generation_parameters
from pipelines.model_configs import FAMILIES, family_configs
from pipelines.models import detect_family, list_checkpoints, model_hash
from pipelines.networks import short_hash
from tests.conftest import done_of
from tests.helpers import (
    noise_image,
    openclip_layout,
    patterned_fp16,
    pixels,
    write_embedding,
    write_lora,
    write_single_file,
    write_vae,
)

FAST = dict(steps=6, width=64, height=64, seed=11, denoising_strength=0.9, sampler_name="Euler")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("a1111")
    for name in ("Stable-diffusion", "Lora", "VAE", "embeddings"):
        (root / name).mkdir()
    (root / "styles.csv").write_text('name,prompt,negative_prompt\nFilm,"{prompt}, film grain",blurry\n'
                                     'Sharp,sharp,\n')
    return root


@pytest.fixture(scope="module")
def lib_services(dirs, tmp_path_factory):
    services = build_services("builtin:tiny", Folders(
        ckpt_dir=str(dirs / "Stable-diffusion"), outdir=str(tmp_path_factory.mktemp("out")),
        lora_dir=str(dirs / "Lora"), embeddings_dir=str(dirs / "embeddings"), vae_dir=str(dirs / "VAE"),
        styles_file=str(dirs / "styles.csv")))
    write_lora(services.models.model.pipe, dirs / "Lora" / "kohya.safetensors", seed=1)
    write_lora(services.models.model.pipe, dirs / "Lora" / "peft.safetensors", seed=2, kind="peft")
    yield services
    services.close()


def run(services, prompt="a cat", **params):
    done = done_of(services, Job(init_images=[noise_image(64, 64, seed=4)], prompt=prompt, **dict(FAST, **params)))
    return pixels(done.images[0]), done


def weights(pipe):
    return {f"{part}.{k}": v.clone() for part in ("unet", "text_encoder", "vae")
            for k, v in getattr(pipe, part).state_dict().items()}


# ---------------------------------------------------------------------------------------------------------------------
# LoRA

@pytest.mark.parametrize("name", ["kohya", "peft"])
def test_lora_weight_zero_is_none_and_the_model_is_unchanged_after(lib_services, name):
    before = weights(lib_services.models.model.pipe)
    plain, _ = run(lib_services)
    zero, _ = run(lib_services, f"a cat <lora:{name}:0>")
    assert np.array_equal(zero, plain)
    with_lora, done = run(lib_services, f"a cat <lora:{name}:1>")
    assert not np.array_equal(with_lora, plain)
    after = weights(lib_services.models.model.pipe)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert np.array_equal(run(lib_services)[0], plain)
    params = parse_generation_parameters(done.infotexts[0])
    assert params["Prompt"] == f"a cat <lora:{name}:1>"
    assert params["Lora hashes"] == f"{name}: {short_hash(lib_services.models.library.loras.available()[name])}"


def test_lora_unet_and_text_encoder_weights_are_separate(lib_services):
    plain, _ = run(lib_services)
    te_only, _ = run(lib_services, "a cat <lora:kohya:1:0>")
    unet_only, _ = run(lib_services, "a cat <lora:kohya:0:1>")
    both, _ = run(lib_services, "a cat <lora:kohya:1:1>")
    assert len({a.tobytes() for a in (plain, te_only, unet_only, both)}) == 4


def test_loha_lokr_and_full_differences_follow_a1111s_formulas(lib_services, dirs):
    """LyCORIS files in models/Lora: LoHa (w1a w1b) * (w2a w2b) * alpha / rank, LoKr kron(w1, w2a w2b) * alpha / rank,
    and a full difference, each times the prompt's weight, on one attention layer; the weight is back after."""
    pipe = lib_services.models.model.pipe
    layer = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"
    module = pipe.unet.get_submodule(layer)
    key = "lora_unet_" + layer.replace(".", "_")
    out_features, in_features = module.weight.shape
    g = torch.Generator().manual_seed(3)
    w1a, w1b, w2a, w2b = (torch.randn(out_features, 2, generator=g), torch.randn(2, in_features, generator=g),
                          torch.randn(out_features, 2, generator=g), torch.randn(2, in_features, generator=g))
    k1, k2a, k2b = (torch.randn(4, 4, generator=g), torch.randn(out_features // 4, 2, generator=g),
                    torch.randn(2, in_features // 4, generator=g))
    diff = torch.randn(out_features, in_features, generator=g)
    files = {
        "loha": ({f"{key}.hada_w1_a": w1a, f"{key}.hada_w1_b": w1b, f"{key}.hada_w2_a": w2a, f"{key}.hada_w2_b": w2b,
                  f"{key}.alpha": torch.tensor(1.0)}, (w1a @ w1b) * (w2a @ w2b) * 0.5),
        "lokr": ({f"{key}.lokr_w1": k1, f"{key}.lokr_w2_a": k2a, f"{key}.lokr_w2_b": k2b,
                  f"{key}.alpha": torch.tensor(1.0)}, torch.kron(k1, k2a @ k2b) * 0.5),
        "full": ({f"{key}.diff": diff}, diff),
    }
    before = module.weight.detach().clone()
    plain, _ = run(lib_services)
    for name, (tensors, delta) in files.items():
        save_file(tensors, str(dirs / "Lora" / f"{name}.safetensors"))
        with lib_services.models.library.loras.applied(pipe, [(name, 0.7, 0.7)]):
            assert torch.allclose(module.weight, before + 0.7 * delta, atol=1e-5), name
        assert torch.equal(module.weight, before)
        assert not np.array_equal(run(lib_services, f"a cat <lora:{name}:1>")[0], plain), name


def test_unknown_lora_names_the_known_ones(lib_services):
    events = list(lib_services.queue.run(Job(prompt="<lora:nope:1>", width=64, height=64, steps=1)))
    assert isinstance(events[-1], Failed) and events[-1].invalid
    assert "'nope'" in events[-1].error and "kohya" in events[-1].error


# ---------------------------------------------------------------------------------------------------------------------
# textual inversion

def test_an_embedding_is_used_by_name(lib_services, dirs):
    plain, _ = run(lib_services, "a cat, zzstyle")
    write_embedding(dirs / "embeddings" / "zzstyle.safetensors", vectors=2)
    with_embedding, done = run(lib_services, "a cat, zzstyle")
    assert not np.array_equal(with_embedding, plain)
    params = parse_generation_parameters(done.infotexts[0])
    assert params["TI hashes"].startswith("zzstyle: ")
    unrelated, done = run(lib_services, "a cat, plain words")
    assert "TI hashes" not in done.infotexts[0]
    assert np.array_equal(unrelated, run(lib_services, "a cat, plain words")[0])


def test_pt_embeddings_load_with_weights_only_and_others_are_refused(lib_services, dirs):
    write_embedding(dirs / "embeddings" / "ptstyle.pt", vectors=3, seed=5)

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    with open(dirs / "embeddings" / "evil.pt", "wb") as f:
        pickle.dump({"string_to_param": Evil()}, f)
    write_embedding(dirs / "embeddings" / "wide.safetensors", dim=768)  # another model family's
    loaded, skipped = lib_services.models.library.embeddings.split([32])
    assert loaded["ptstyle"].vectors == 3 and loaded["ptstyle"].step == 100
    assert "evil" not in loaded and "wide" in skipped
    plain, _ = run(lib_services, "a ptstyle cat")
    (dirs / "embeddings" / "ptstyle.pt").unlink()
    assert not np.array_equal(plain, run(lib_services, "a ptstyle cat")[0])


# ---------------------------------------------------------------------------------------------------------------------
# styles

def test_styles_are_applied_and_unknown_ones_refused(lib_services):
    _, done = run(lib_services, "a cat", styles=["Film", "Sharp"], negative_prompt="ugly")
    params = parse_generation_parameters(done.infotexts[0])
    assert params["Prompt"] == "a cat, film grain, sharp"
    assert params["Negative prompt"] == "ugly, blurry"
    assert done.info["styles"] == ["Film", "Sharp"]
    events = list(lib_services.queue.run(Job(prompt="a cat", styles=["Nope"])))
    assert events[-1].invalid and "Film, Sharp" in events[-1].error


# ---------------------------------------------------------------------------------------------------------------------
# VAE

def test_vae_files(lib_services, dirs):
    folder = ensure_builtin("tiny")
    write_vae(folder, dirs / "VAE" / "same.safetensors")
    write_vae(folder, dirs / "VAE" / "other.safetensors", noise=0.5)
    plain, _ = run(lib_services)
    same, done = run(lib_services, override_settings={"sd_vae": "same.safetensors"})
    assert np.array_equal(same, plain)
    params = parse_generation_parameters(done.infotexts[0])
    assert params["VAE"] == "same.safetensors" and params["VAE hash"] == model_hash(dirs / "VAE" / "same.safetensors")
    other, done = run(lib_services, override_settings={"sd_vae": "other.safetensors"})
    assert not np.array_equal(other, plain) and done.info["sd_vae_name"] == "other.safetensors"
    back, done = run(lib_services, override_settings={"sd_vae": "None"})
    assert np.array_equal(back, plain) and "VAE" not in parse_generation_parameters(done.infotexts[0])
    events = list(lib_services.queue.run(Job(prompt="x", width=64, height=64, steps=1,
                                             override_settings={"sd_vae": "missing.pt"})))
    assert events[-1].invalid and "other.safetensors" in events[-1].error


# ---------------------------------------------------------------------------------------------------------------------
# single-file checkpoints

def test_a_single_file_checkpoint_loads_offline_and_matches_its_folder(dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = ensure_builtin("tiny")
    path = write_single_file(folder, dirs / "Stable-diffusion" / "sub" / "tiny-single.safetensors")
    write_vae(folder, dirs / "VAE" / "other.safetensors", noise=0.5)
    listed = [c for c in list_checkpoints(str(dirs / "Stable-diffusion")) if not c.builtin]
    assert [(c.title, c.name) for c in listed] == [("sub/tiny-single.safetensors", "tiny-single")]
    assert detect_family(path) == "builtin:tiny"

    folder_services = build_services("builtin:tiny", Folders(ckpt_dir=None, outdir=None, lora_dir=str(dirs / "Lora"),
                                                             vae_dir=str(dirs / "VAE")))
    file_services = build_services("sub/tiny-single.safetensors", Folders(
        ckpt_dir=str(dirs / "Stable-diffusion"), outdir=None, lora_dir=str(dirs / "Lora"), vae_dir=str(dirs / "VAE")))
    write_lora(folder_services.models.model.pipe, dirs / "Lora" / "kohya.safetensors", seed=1)  # as lib_services does
    try:
        for prompt, settings in [("a cat", {}), ("a cat <lora:kohya:0.8>", {}),
                                 ("a cat", {"sd_vae": "other.safetensors"})]:
            from_folder, _ = run(folder_services, prompt, override_settings=settings)
            from_file, done = run(file_services, prompt, override_settings=settings)
            assert np.array_equal(from_file, from_folder), (prompt, settings)
        params = parse_generation_parameters(done.infotexts[0])
        assert params["Model"] == "tiny-single" and params["Model hash"] == model_hash(path)
        # hashed once loaded: A1111's title, by which (or by the hash alone) it is found again
        title = f"sub/tiny-single.safetensors [{model_hash(path)}]"
        assert file_services.models.title == title
        assert [c.title for c in file_services.models.checkpoints() if not c.builtin] == [title]
        assert file_services.models.load(model_hash(path)).title == title
    finally:
        folder_services.close()
        file_services.close()


def test_ckpt_pickles_need_weights_only(tmp_path):
    folder = ensure_builtin("tiny")
    single = write_single_file(folder, tmp_path / "tiny.safetensors")
    from safetensors.torch import load_file
    torch.save({"state_dict": load_file(str(single))}, str(tmp_path / "plain.ckpt"))
    assert detect_family(tmp_path / "plain.ckpt") == "builtin:tiny"

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    with open(tmp_path / "evil.ckpt", "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(ModelLoadError, match="weights_only"):
        build_services(str(tmp_path / "evil.ckpt"), Folders(ckpt_dir=None, outdir=None))
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        detect_family(tmp_path / "broken.safetensors")


@pytest.mark.parametrize("family,keys", [
    ("v1", {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (8, 768)}),
    ("inpainting", {"model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}),
    ("v2", {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
            "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024)}),
    ("xl_base", {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3),
                 "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,)}),
    ("xl_inpaint", {"model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3),
                    "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,)}),
])
def test_family_detection_from_the_weights(tmp_path, family, keys):
    path = tmp_path / f"{family}.safetensors"
    save_file({k: torch.zeros(shape) for k, shape in keys.items()}, str(path))
    assert detect_family(path) == family


def test_local_configs_have_the_published_sizes():
    """The configs kept for offline loading build models of exactly the published parameter counts."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def count(module):
        return sum(p.numel() for p in module.parameters())

    expected = {"v1": 859520964, "v2": 865910724, "xl_base": 2567463684}
    for family in FAMILIES:
        configs = family_configs(family)
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(configs["unet"])
            assert count(AutoencoderKL.from_config(configs["vae"])) == 83653863
            text = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
            assert count(text) == (123060480 if family.startswith(("v1", "inpainting", "xl")) and
                                   family != "inpainting_v2" else 340387840)
            if family.startswith("xl"):
                assert count(CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_encoder_2"]))) == 694659840
        base = {"inpainting": "v1", "v2-v": "v2", "inpainting_v2": "v2", "xl_inpaint": "xl_base"}.get(family, family)
        extra = 5 * 320 * 9 if configs["unet"]["in_channels"] == 9 else 0  # five more input channels
        assert count(unet) == expected[base] + extra


@pytest.mark.parametrize("family", ["v1", "xl_base"])
def test_full_sized_single_files_load_offline_with_the_kept_configs(tmp_path, monkeypatch, family):
    """SD 1.5's and SDXL's full geometry (2 and 7 GB in fp16, patterned weights) in the original key layout:
    detected from the weights, loaded with the project's own config folder and CLIP tokenizers, network off, every
    weight where diffusers' converter puts it."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from tests.ldm_convert import TEXT_ENCODER_PREFIX, UNET_PREFIX, VAE_PREFIX, unet_to_ldm, vae_to_ldm
    from pipelines.models import _load_single_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    configs = family_configs(family)
    with torch.device("meta"):
        made = {"unet": UNet2DConditionModel.from_config(configs["unet"]),
                "vae": AutoencoderKL.from_config(configs["vae"]),
                "text_encoder": CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))}
        if family == "xl_base":
            made["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_encoder_2"]))
    made = {name: patterned_fp16(module) for name, module in made.items()}
    state = {UNET_PREFIX + k: v for k, v in unet_to_ldm(made["unet"].state_dict(), made["unet"].config).items()}
    state.update({VAE_PREFIX + k: v for k, v in vae_to_ldm(made["vae"].state_dict(), made["vae"].config).items()})
    clip_prefix = "conditioner.embedders.0.transformer." if family == "xl_base" else TEXT_ENCODER_PREFIX
    state.update({clip_prefix + "text_model." + k.removeprefix("text_model."): v
                  for k, v in made["text_encoder"].state_dict().items()})
    if family == "xl_base":
        state.update(openclip_layout(made["text_encoder_2"].state_dict(), "conditioner.embedders.1.model."))
    path = tmp_path / f"{family}-shaped.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    # keep only the names: the weights are patterned_fp16's again, parameter by parameter (memory for one model)
    names = {name: [n for n, _ in module.named_parameters()] for name, module in made.items()}
    del state, made
    assert detect_family(path) == family

    pipe = _load_single_file(path, torch.float16)  # what load_model does for a file, at half the memory
    assert (getattr(pipe, "text_encoder_2", None) is not None) == (family == "xl_base")
    assert pipe.tokenizer("a cat, a dog")["input_ids"] == [49406, 320, 2368, 267, 320, 1929, 49407]
    for name, parameters in names.items():
        loaded = getattr(pipe, name).state_dict()
        for i, n in enumerate(parameters):
            expected = ((torch.arange(loaded[n].numel(), dtype=torch.float32) % 97 + i) / 97).half()
            assert torch.equal(loaded[n].flatten(), expected), (name, n)
