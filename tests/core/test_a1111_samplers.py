"""The same picture as A1111: the pipeline against a reference of A1111's algorithm (tests/a1111_reference.py:
k-diffusion's own sampler functions and a port of A1111's denoiser wrapper), on the built-in model with a
deterministic VAE encoder (posterior log-variance -30), so that both sides start from the same init latent."""
import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import Folders, Job, build_services
from pipelines.conditioning import PromptEncoder
from pipelines.sampling import model_schedule
from pipelines.samplers import find_sampler, get_sigmas
from pipelines.schedules import ModelSchedule, ScheduleSettings, alphas_cumprod_of
from tests import a1111_reference as ref
from tests.conftest import done_of
from tests.helpers import noise_image, pixels, rect_mask

SIZE, STEPS = 64, 10
SOURCE = noise_image(SIZE, SIZE, seed=11)


@pytest.fixture(scope="module")
def exact(tmp_path_factory):
    """Services on the built-in model whose VAE encoder's log-variance is -30: its posterior is its mean."""
    services = build_services("builtin:tiny", Folders(ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                                                      outdir=str(tmp_path_factory.mktemp("exact-out"))))
    quant_conv = services.models.model.pipe.vae.quant_conv
    with torch.no_grad():
        quant_conv.weight[4:] = 0
        quant_conv.bias[4:] = -30
    yield services
    services.close()


LONG_PROMPT = "a red apple on a wooden table, " * 12  # 2 chunks of 75 tokens, against a 1-chunk negative prompt


def ours(services, **params):
    settings = dict(init_images=[SOURCE], prompt="a red apple", negative_prompt="blurry", steps=STEPS, seed=7,
                    width=SIZE, height=SIZE, cfg_scale=7.0, denoising_strength=0.75)
    settings.update(params)
    done = done_of(services, Job(**settings))
    return np.stack([pixels(im) for im in done.images]), done


def theirs(services, sampler, image=SOURCE, latent_mask=None, prompt="a red apple", seeds=(7,), **settings):
    """The reference's picture for the settings `ours` uses (`settings`: scheduler, denoising_strength,
    cfg_scale)."""
    p = ref.Settings(sampler, STEPS, **{"denoising_strength": 0.75, "cfg_scale": 7.0, **settings})
    pipe = services.models.model.pipe
    encoder = PromptEncoder(services.models.model)
    batch = np.stack([np.array(image.convert("RGB")).astype(np.float32) / 255.0] * len(seeds))
    x = 2. * torch.from_numpy(batch).permute(0, 3, 1, 2) - 1.
    with torch.no_grad():
        init_latent = pipe.vae.config.scaling_factor * pipe.vae.encode(x).latent_dist.mean
        conds = [ref_schedule(encoder, prompt)] * len(seeds)
        unconds = [[(STEPS, encoder.encode("blurry").hidden[0])]] * len(seeds)
        samples = ref.sample_img2img(pipe.unet, init_latent, conds, unconds, list(seeds), p, latent_mask)
        return ref.decode(pipe.vae, samples)


def ref_schedule(encoder, prompt):
    """A1111's schedule for the prompts used here: `[a:b:when]` switches at step int(when * steps)."""
    if prompt.startswith("["):
        first, second, when = prompt[1:-1].split(":")
        return [(int(float(when) * STEPS), encoder.encode(first).hidden[0]), (STEPS, encoder.encode(second).hidden[0])]
    return [(STEPS, encoder.encode(prompt).hidden[0])]


def assert_close(a, b, levels=2):
    assert a.shape == b.shape
    difference = np.abs(a.astype(int) - b.astype(int)).max()
    assert difference <= levels, f"differs by {difference} levels"


@pytest.mark.parametrize("sampler", list(ref.K_SAMPLERS))
def test_every_sampler_on_its_automatic_schedule_is_a1111s(exact, sampler):
    mine, _ = ours(exact, sampler_name=sampler)
    assert_close(mine, theirs(exact, sampler))


@pytest.mark.parametrize("sampler", ["Euler", "DPM++ 2M"])
@pytest.mark.parametrize("scheduler", ["Karras", "Exponential"])
def test_karras_and_exponential_schedules_are_a1111s(exact, sampler, scheduler):
    mine, done = ours(exact, sampler_name=sampler, scheduler=scheduler)
    assert_close(mine, theirs(exact, sampler, scheduler=scheduler))
    assert f"Schedule type: {scheduler}," in done.infotexts[0]


def test_picture_two_of_a_batch_is_the_next_seed_made_alone(exact):
    """Each picture has its own generator, also for the ancestral noise after the initial noise."""
    batch, _ = ours(exact, sampler_name="Euler a", batch_size=2)
    alone, _ = ours(exact, sampler_name="Euler a", seed=8)
    assert_close(batch[1], alone[0], levels=1)
    assert_close(batch, theirs(exact, "Euler a", seeds=(7, 8)))
    sde_batch, _ = ours(exact, sampler_name="DPM++ SDE", batch_size=2)
    sde_alone, _ = ours(exact, sampler_name="DPM++ SDE", seed=8)
    assert_close(sde_batch[1], sde_alone[0], levels=1)


def test_denoising_one_is_a1111s_and_keeps_the_init_pictures_colours(exact):
    black, white = Image.new("RGB", (SIZE, SIZE), "black"), Image.new("RGB", (SIZE, SIZE), "white")
    on_black, _ = ours(exact, init_images=[black], denoising_strength=1.0, sampler_name="Euler")
    on_white, _ = ours(exact, init_images=[white], denoising_strength=1.0, sampler_name="Euler")
    assert_close(on_black, theirs(exact, "Euler", image=black, denoising_strength=1.0))
    assert_close(on_white, theirs(exact, "Euler", image=white, denoising_strength=1.0))
    assert not np.array_equal(on_black, on_white)  # init latent + sigma_max * noise: the init picture counts


@pytest.mark.parametrize("sampler", ["Euler", "Euler a"])
def test_inpainting_the_whole_picture_with_the_original_is_a1111s(exact, sampler):
    box = (16, 8, 48, 40)  # on the latent grid: the latent mask is exact
    mask = rect_mask(SIZE, SIZE, box)
    mine, _ = ours(exact, sampler_name=sampler, mask=mask, mask_blur=0, inpainting_fill=1, inpaint_full_res=False)
    latent_mask = torch.zeros(1, 4, SIZE // 8, SIZE // 8)
    latent_mask[..., box[1] // 8:box[3] // 8, box[0] // 8:box[2] // 8] = 1
    expected = theirs(exact, sampler, latent_mask=latent_mask)
    inside = (slice(None), slice(box[1], box[3]), slice(box[0], box[2]))
    assert_close(mine[inside], expected[inside])
    outside = np.array(mask) == 0
    assert np.array_equal(mine[0][outside], pixels(SOURCE)[outside])  # the overlay puts the original back


def test_a_prompt_longer_than_the_negative_runs_in_its_own_unet_call_as_in_a1111(exact):
    mine, done = ours(exact, sampler_name="Euler", prompt=LONG_PROMPT)
    assert_close(mine, theirs(exact, "Euler", prompt=LONG_PROMPT))
    assert "Pad conds" not in done.infotexts[0]
    padded, done = ours(exact, sampler_name="Euler", prompt=LONG_PROMPT, override_settings={"pad_cond_uncond": True})
    assert "Pad conds: True" in done.infotexts[0]
    assert not np.array_equal(padded, mine)


def test_prompt_editing_is_a1111s(exact):
    """An early switch at a high CFG scale: on the built-in model, moving the switch by one call changes the
    picture by about 10 levels (late switches change it by 1)."""
    prompt = "[a red apple:a blue car:0.1]"
    mine, _ = ours(exact, sampler_name="Euler", prompt=prompt, cfg_scale=15.0)
    assert_close(mine, theirs(exact, "Euler", prompt=prompt, cfg_scale=15.0))


SDXL_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                  "num_train_timesteps": 1000, "timestep_spacing": "leading", "steps_offset": 1,
                  "interpolation_type": "linear", "prediction_type": "epsilon"}


def k_diffusion_sigmas(sampler, steps):
    model_wrap = ref.external.CompVisDenoiser(ref.LatentDiffusion(unet=None))
    return ref.get_sigmas(model_wrap, ref.K_SAMPLERS[sampler][1], steps)


@pytest.mark.parametrize("sampler, scheduler", [("Euler", "Automatic"), ("Euler a", "Automatic"),
                                                ("DPM++ SDE", "Karras")])
def test_sdxl_sigmas_are_k_diffusions_from_the_models_alphas_cumprod(sampler, scheduler):
    """SDXL's scheduler config says "leading" spacing; A1111 ignores it and takes k-diffusion's sigmas."""
    schedule = ModelSchedule(alphas_cumprod_of(SDXL_SCHEDULER))
    settings = ScheduleSettings(sdxl=True)
    sigmas = get_sigmas(find_sampler(sampler), scheduler, 20, schedule, settings)
    expected = k_diffusion_sigmas(sampler, 20)
    assert torch.allclose(sigmas, expected, rtol=1e-6, atol=0)
    t_enc = int(0.75 * 20)
    start = sigmas[20 - t_enc - 1].item()
    assert round(sigmas[0].item(), 2) == 14.61
    assert round(start, 2) == (5.79 if sampler == "DPM++ SDE" else 4.86)  # the numbers, img2img at 0.75


def test_sd1_euler_img2img_starts_where_a1111_starts(exact):
    schedule = model_schedule(exact.models.model, find_sampler("Euler"))
    sigmas = get_sigmas(find_sampler("Euler"), "Automatic", 10, schedule, ScheduleSettings())
    assert round(sigmas[10 - int(0.75 * 10) - 1].item(), 2) == 4.61
    assert torch.allclose(sigmas, k_diffusion_sigmas("Euler", 10), rtol=1e-6, atol=0)


def test_timestep_samplers_step_through_a1111s_timesteps_and_paste_the_clean_original(exact):
    """DDIM at 20 steps and 0.75 noises to t=751 and calls the model at 701, 651 ... 51 (A1111's 14 calls); PLMS
    makes one more (its first step calls twice); before each call the unmasked region is the clean init latent."""
    unet = exact.models.model.pipe.unet
    calls = []
    hook = unet.register_forward_pre_hook(lambda _m, args, _kw: calls.append((args[0].clone(), args[1].clone())),
                                          with_kwargs=True)
    box = (16, 8, 48, 40)
    try:
        ours(exact, sampler_name="DDIM", steps=20, mask=rect_mask(SIZE, SIZE, box), mask_blur=0, inpainting_fill=1)
        ddim = list(calls)
        calls.clear()
        ours(exact, sampler_name="PLMS", steps=20)
    finally:
        hook.remove()
    assert [int(t[0]) for _, t in ddim] == list(range(701, 1, -50))
    assert [int(t[0]) for _, t in calls] == [701, 651] + list(range(651, 1, -50))
    pipe = exact.models.model.pipe
    x = 2. * torch.from_numpy(np.array(SOURCE).astype(np.float32) / 255.0).permute(2, 0, 1)[None] - 1.
    with torch.no_grad():
        init_latent = pipe.vae.config.scaling_factor * pipe.vae.encode(x).latent_dist.mean
    keep = torch.ones(SIZE // 8, SIZE // 8, dtype=torch.bool)
    keep[box[1] // 8:box[3] // 8, box[0] // 8:box[2] // 8] = False
    for sample, _ in ddim:
        assert torch.allclose(sample[0][:, keep], init_latent[0][:, keep], atol=1e-4)


def test_ngms_skips_the_negative_prompt_every_other_call_below_its_sigma(exact):
    """A1111's s_min_uncond: odd calls below the sigma run the prompt alone (one UNet row instead of two)."""
    unet = exact.models.model.pipe.unet
    rows = []
    hook = unet.register_forward_pre_hook(lambda _m, args, _kw: rows.append(args[0].shape[0]), with_kwargs=True)
    try:
        mine, done = ours(exact, sampler_name="Euler", s_min_uncond=15.0)
    finally:
        hook.remove()
    assert rows == [2, 1] * 4  # 8 calls at 0.75 of 10 steps
    assert "NGMS: 15.0," in done.infotexts[0]
    plain, done = ours(exact, sampler_name="Euler")
    assert not np.array_equal(mine, plain) and "NGMS" not in done.infotexts[0]


def test_skip_early_cfg_drops_the_negative_prompt_for_the_first_calls(exact):
    """A1111's skip_early_cond: calls with call / total calls <= the fraction run the prompt alone."""
    unet = exact.models.model.pipe.unet
    rows = []
    hook = unet.register_forward_pre_hook(lambda _m, args, _kw: rows.append(args[0].shape[0]), with_kwargs=True)
    try:
        _, done = ours(exact, sampler_name="Euler", override_settings={"skip_early_cond": 0.25})
    finally:
        hook.remove()
    assert rows == [1, 1, 1] + [2] * 5  # calls 0, 1, 2 of 8 (2 / 8 <= 0.25)
    assert "Skip Early CFG: 0.25," in done.infotexts[0]
