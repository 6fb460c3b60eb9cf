"""The core end to end on the built-in model: every resize mode, masked content, inpaint area, seeds, step counts,
samplers, saving, interrupt and skip, and bad jobs."""
import os
import re
import threading

import numpy as np
import pytest
from PIL import Image

from pipelines import Done, Failed, Job, Notice, Progress, Queued, Result, img2img_steps, imageops, sampler_names
from pipelines.infotext import parse_generation_parameters
from pipelines.samplers import SCHEDULES
from tests.conftest import done_of, run_job
from tests.helpers import noise_image, pixels, rect_mask

FAST = dict(steps=4, width=64, height=64, seed=1)


def job(image=None, **params):
    settings = dict(FAST)
    settings.update(params)
    return Job(init_images=[image or noise_image(96, 64)], **settings)


def test_img2img_makes_a_saved_picture_with_infotext(services, outdir):
    done = done_of(services, job(prompt="a cat", seed=1234, width=128, height=96))
    image = done.images[0]
    assert image.size == (128, 96)
    assert done.info["all_seeds"] == [1234]
    results = [e for e in run_job(services, job(seed=77))]
    result = next(e for e in results if isinstance(e, Result))
    assert re.fullmatch(r"\d{5}-77\.png", os.path.basename(result.path))
    assert os.path.dirname(result.path).startswith(str(outdir / "img2img-images"))
    saved = Image.open(result.path)
    params = parse_generation_parameters(saved.info["parameters"])
    assert params["Seed"] == "77" and params["Denoising strength"] == "0.75" and params["Steps"] == "4"
    assert params["Model"] == "builtin-tiny" and re.fullmatch(r"[0-9a-f]{10}", params["Model hash"])
    assert params["Size-1"] == "64" and params["Sampler"] == "DPM++ 2M" and params["Schedule type"] == "Karras"


def test_saved_files_are_numbered_in_sequence(services):
    done = done_of(services, job(seed=5, batch_size=2))
    paths = [e for e in done.info["infotexts"]]
    assert len(paths) == 2
    results = [e for e in run_job(services, job(seed=9, n_iter=3)) if isinstance(e, Result)]
    numbers = [int(os.path.basename(r.path)[:5]) for r in results]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    assert not [f for f in os.listdir(os.path.dirname(results[0].path)) if f.endswith(".tmp")]


@pytest.mark.parametrize("resize_mode", [0, 1, 2, 3])
def test_every_resize_mode_gives_the_requested_size(services, resize_mode):
    done = done_of(services, job(noise_image(160, 96), resize_mode=resize_mode, width=96, height=128))
    assert done.images[0].size == (96, 128)


def test_resize_by_scales_the_source(services):
    done = done_of(services, job(noise_image(256, 192), scale_by=0.5))
    assert done.images[0].size == (128, 96)
    assert "Size: 128x96" in done.infotexts[0]


def test_same_job_twice_gives_identical_pictures(services):
    a = done_of(services, job(seed=42, prompt="x"))
    b = done_of(services, job(seed=42, prompt="x"))
    c = done_of(services, job(seed=43, prompt="x"))
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert not np.array_equal(pixels(a.images[0]), pixels(c.images[0]))


def test_a_batch_gets_consecutive_seeds(services):
    done = done_of(services, job(seed=100, batch_size=3))
    seeds = [parse_generation_parameters(t)["Seed"] for t in done.infotexts]
    assert seeds == ["100", "101", "102"]
    assert done.info["all_seeds"] == [100, 101, 102]
    # picture i of a batch is picture 0 of a job with seed + i (the UNet's float sums depend on the batch size by
    # about 1e-6 on the CPU, which may round a pixel value the other way)
    alone = done_of(services, job(seed=101))
    assert np.abs(pixels(done.images[1]) - pixels(alone.images[0])).max() <= 1
    assert not np.array_equal(pixels(done.images[0]), pixels(alone.images[0]))


def test_batch_count_times_batch_size_with_a_grid(services, outdir):
    done = done_of(services, job(seed=7, n_iter=2, batch_size=2))
    assert len(done.images) == 4 and done.info["all_seeds"] == [7, 8, 9, 10]
    assert done.grid_path and re.fullmatch(r"grid-\d{4}\.png", os.path.basename(done.grid_path))
    assert Image.open(done.grid_path).size == (128, 128)


def test_random_seed_is_recorded(services):
    done = done_of(services, job(seed=-1, batch_size=2))
    first = int(parse_generation_parameters(done.infotexts[0])["Seed"])
    assert first >= 0 and int(parse_generation_parameters(done.infotexts[1])["Seed"]) == first + 1


def test_variation_seed_changes_the_picture_and_is_recorded(services):
    base = done_of(services, job(seed=3))
    varied = done_of(services, job(seed=3, subseed=11, subseed_strength=0.5, batch_size=2))
    assert not np.array_equal(pixels(base.images[0]), pixels(varied.images[0]))
    p0, p1 = (parse_generation_parameters(t) for t in varied.infotexts)
    assert (p0["Seed"], p1["Seed"]) == ("3", "3")  # the same seed for all with a variation strength
    assert (p0["Variation seed"], p1["Variation seed"]) == ("11", "12")
    assert p0["Variation seed strength"] == "0.5"


@pytest.mark.parametrize("steps, strength, run", [(20, 0.75, 16), (20, 1.0, 20), (10, 0.5, 6), (20, 0.3, 7),
                                                  (30, 0.99, 30), (7, 0.1, 1)])
def test_steps_run_are_a1111s(steps, strength, run):
    assert img2img_steps(steps, strength, False) == (steps, int(min(strength, 0.999) * steps) + 1) == (steps, run)


def test_fix_steps_runs_exactly_the_steps_asked():
    assert img2img_steps(20, 0.5, True) == (40, 20)
    assert img2img_steps(20, 0.75, True) == (26, 20)


@pytest.mark.parametrize("steps, strength, fix, expected", [(20, 0.75, False, 16), (10, 0.5, False, 6),
                                                            (10, 0.5, True, 10), (8, 1.0, False, 8)])
def test_the_pipeline_runs_that_many_steps(services, steps, strength, fix, expected):
    events = run_job(services, job(steps=steps, denoising_strength=strength,
                                   override_settings={"img2img_fix_steps": fix}))
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, expected + 1))
    assert {p.steps for p in progress} == {expected}


def test_previews_come_every_few_steps(services):
    events = run_job(services, job(steps=10, denoising_strength=1.0))
    with_preview = [p.step for p in events if isinstance(p, Progress) and p.preview is not None]
    assert with_preview == [3, 6, 9]


def test_strength_zero_returns_the_resized_input_without_sampling(services):
    source = noise_image(96, 64)
    events = run_job(services, job(source, denoising_strength=0, width=64, height=64))
    assert not [e for e in events if isinstance(e, Progress)]
    assert np.array_equal(pixels(events[-1].images[0]), pixels(imageops.resize_image(0, source, 64, 64)))


def test_strength_one_still_starts_from_the_init_picture(services):
    """As A1111: init latent + sigma_max * noise, so the init picture's colours carry through at strength 1."""
    black, white = Image.new("RGB", (64, 64), "black"), Image.new("RGB", (64, 64), "white")
    a = done_of(services, job(black, denoising_strength=1.0, seed=3))
    b = done_of(services, job(white, denoising_strength=1.0, seed=3))
    assert not np.array_equal(pixels(a.images[0]), pixels(b.images[0]))


def test_noise_multiplier_changes_the_picture_and_is_recorded(services):
    a = done_of(services, job(seed=8))
    b = done_of(services, job(seed=8, initial_noise_multiplier=0.5))
    assert not np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert "Noise multiplier: 0.5" in b.infotexts[0]


def test_color_correction_option_runs(services):
    a = done_of(services, job(seed=8))
    b = done_of(services, job(seed=8, override_settings={"img2img_color_correction": True}))
    assert not np.array_equal(pixels(a.images[0]), pixels(b.images[0]))


# -- samplers --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sampler_names())
def test_every_sampler_runs_and_is_reproducible(services, name):
    a = done_of(services, job(sampler_name=name, steps=3, seed=5))
    b = done_of(services, job(sampler_name=name, steps=3, seed=5))
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert f"Sampler: {name}," in a.infotexts[0]


@pytest.mark.parametrize("schedule", [s for s in SCHEDULES if s != "Automatic"])
def test_schedule_types_run_on_euler(services, schedule):
    done = done_of(services, job(sampler_name="Euler", scheduler=schedule, steps=3))
    assert f"Schedule type: {schedule}," in done.infotexts[0]


def test_legacy_combined_sampler_name_is_split(services):
    done = done_of(services, job(sampler_name="Euler Karras", steps=3))
    assert "Sampler: Euler, Schedule type: Karras," in done.infotexts[0]
    assert "Schedule type: Automatic," in done_of(services, job(sampler_name="Euler a", steps=3)).infotexts[0]


# -- masks -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fill, written", [(0, "fill"), (1, None), (2, "latent noise"), (3, "latent nothing")])
def test_every_masked_content_changes_only_the_masked_area(services, fill, written):
    source = noise_image(128, 128)
    mask = rect_mask(128, 128, (32, 32, 96, 96))
    done = done_of(services, job(source, mask=mask, inpainting_fill=fill, width=128, height=128, steps=6,
                                 denoising_strength=0.9))
    out, original = pixels(done.images[0]), pixels(source)
    overlay_mask = np.asarray(imageops.double_mask(imageops.blur_mask(mask, 4, 4)))
    assert np.array_equal(out[overlay_mask == 0], original[overlay_mask == 0])
    assert (out[overlay_mask == 255] != original[overlay_mask == 255]).any(axis=-1).mean() > 0.9
    params = parse_generation_parameters(done.infotexts[0])
    assert params["Masked content"] == (written or "original")
    assert ("Masked content" in done.infotexts[0]) == (written is not None)
    assert params["Mask blur"] == "4"


def test_masked_content_modes_differ(services):
    source = noise_image(64, 64)
    mask = rect_mask(64, 64, (16, 16, 48, 48))
    outs = [pixels(done_of(services, job(source, mask=mask, inpainting_fill=f, denoising_strength=0.5)).images[0])
            for f in range(4)]
    for i in range(4):
        for k in range(i + 1, 4):
            assert not np.array_equal(outs[i], outs[k]), (i, k)


def test_inpaint_not_masked_keeps_the_masked_area(services):
    source = noise_image(128, 128)
    mask = rect_mask(128, 128, (32, 32, 96, 96))
    done = done_of(services, job(source, mask=mask, inpainting_mask_invert=1, width=128, height=128, mask_blur=0))
    out = pixels(done.images[0])
    assert np.array_equal(out[32:96, 32:96], pixels(source)[32:96, 32:96])
    assert (out[:16] != pixels(source)[:16]).any()
    assert "Mask mode: Inpaint not masked" in done.infotexts[0]


def test_only_masked_on_a_large_picture_returns_its_size_and_keeps_everything_outside(services):
    source = noise_image(1024, 768)
    mask = rect_mask(1024, 768, (600, 300, 640, 340))
    done = done_of(services, job(source, mask=mask, inpaint_full_res=True, inpaint_full_res_padding=32,
                                 width=128, height=128, denoising_strength=0.9))
    out, original = pixels(done.images[0]), pixels(source)
    assert done.images[0].size == (1024, 768)
    blurred = np.asarray(imageops.blur_mask(mask, 4, 4))
    assert np.array_equal(out[blurred == 0], original[blurred == 0])
    assert (out[310:330, 610:630] != original[310:330, 610:630]).any(axis=-1).mean() > 0.9
    params = parse_generation_parameters(done.infotexts[0])
    assert params["Inpaint area"] == "Only masked" and params["Masked area padding"] == "32"
    assert params["Size-1"] == "128"


def test_only_masked_with_a_blank_mask_falls_back_to_img2img(services):
    events = run_job(services, job(mask=Image.new("L", (96, 64)), inpaint_full_res=True))
    assert any(isinstance(e, Notice) and "mask is blank" in e.message for e in events)
    done = events[-1]
    assert done.images[0].size == (64, 64) and "Inpaint area" not in done.infotexts[0]


def test_a_smaller_mask_of_the_same_shape_is_scaled_to_the_picture(services):
    source = noise_image(128, 128)
    done = done_of(services, job(source, mask=rect_mask(64, 64, (0, 0, 32, 64)), width=128, height=128, mask_blur=0))
    out = pixels(done.images[0])
    assert np.array_equal(out[:, 72:], pixels(source)[:, 72:])
    assert (out[:, :56] != pixels(source)[:, :56]).any(axis=-1).mean() > 0.9


def test_latent_upscale_with_a_mask(services):
    source = noise_image(64, 64)
    done = done_of(services, job(source, mask=rect_mask(64, 64, (0, 0, 32, 64)), resize_mode=3, width=128,
                                 height=128, mask_blur=0))
    out = pixels(done.images[0])
    assert done.images[0].size == (128, 128)
    assert np.array_equal(out[:, 80:], pixels(imageops.resize_image(0, source, 128, 128))[:, 80:])


def test_inpainting_model_uses_the_conditioning_and_its_weight(inpaint_services):
    source = noise_image(64, 64)
    mask = rect_mask(64, 64, (16, 16, 48, 48))
    full = done_of(inpaint_services, job(source, mask=mask, seed=4))
    half = done_of(inpaint_services, job(source, mask=mask, seed=4, override_settings={"inpainting_mask_weight": 0.5}))
    assert "Conditional mask weight: 1.0" in full.infotexts[0]
    assert "Conditional mask weight: 0.5" in half.infotexts[0]
    assert not np.array_equal(pixels(full.images[0]), pixels(half.images[0]))
    plain = done_of(inpaint_services, job(source, seed=4))  # no mask: an inpainting model still runs img2img
    assert plain.images[0].size == (64, 64)


# -- interrupt, skip, queue --------------------------------------------------------------------------------------------

def test_interrupt_stops_a_job_within_a_step(services):
    """The queue owns running jobs: progress and interrupt are asked of it by owner, and reach that owner's only."""
    handle = services.queue.submit(job(steps=20, denoising_strength=1.0, n_iter=3), owner="carol")
    steps = 0
    for event in handle:
        if isinstance(event, Progress):
            steps += 1
            report = services.queue.progress("carol")
            if steps <= 2:  # before the interrupt: the job runs (after it, the job may have ended already)
                assert report.step >= event.step and (report.steps, report.job_count) == (event.steps, 3)  # or later
            assert services.queue.progress("dave") is None
            services.queue.interrupt("dave")  # someone else's interrupt: nothing happens
            if steps == 2:
                services.queue.interrupt("carol")
    assert steps <= 3  # the step running when the interrupt came, at most
    assert isinstance(event, Done) and event.interrupted and not event.images
    assert services.queue.progress("carol") is None  # ended: nothing of carol's runs


def test_skip_drops_the_current_batch_and_goes_on(services):
    handle = services.queue.submit(job(steps=10, denoising_strength=1.0, n_iter=2), owner="carol")
    for event in handle:
        if isinstance(event, Progress) and event.job_no == 0 and event.step == 2:
            services.queue.skip("carol")
    assert isinstance(event, Done) and not event.interrupted
    assert len(event.images) == 1 and "Seed: 2," in event.infotexts[0]


def test_a_second_job_waits_its_turn_and_each_sees_only_its_own_results(services):
    first = services.queue.submit(job(steps=12, denoising_strength=1.0, seed=1), owner="alice")
    second = services.queue.submit(job(steps=2, seed=2), owner="bob")
    results = {}

    def read(name, handle):
        results[name] = list(handle)

    threads = [threading.Thread(target=read, args=(n, h)) for n, h in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert isinstance(results["b"][0], Queued) and results["b"][0].position >= 1
    assert [r.seed for r in results["a"] if isinstance(r, Result)] == [1]
    assert [r.seed for r in results["b"] if isinstance(r, Result)] == [2]
    services.queue.interrupt("bob")  # nothing of bob's runs: no effect on anyone


# -- bad jobs ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    (dict(sampler_name="Euler z"), "unknown sampler 'Euler z'; known samplers: DPM++ 2M, "),
    (dict(scheduler="Wobbly"), "unknown schedule type 'Wobbly'"),
    (dict(steps=0), "steps (Sampling steps) is 0: it must be between 1 and 1000"),
    (dict(steps=-1), "steps (Sampling steps) is -1"),
    (dict(denoising_strength=1.5), "denoising_strength is 1.5"),
    (dict(width=4096), "width is 4096"),
    (dict(scale_by=4.0), "width is 3840 after scaling by 4.0"),
    (dict(cfg_scale="a lot"), "cfg_scale must be a number"),
    (dict(mask=rect_mask(50, 50, (0, 0, 10, 10))), "mask is 50x50 but the image is 960x640"),
    (dict(init_images=[], mask=rect_mask(50, 50, (0, 0, 10, 10))), "mask: a mask needs an init image"),
])
def test_bad_jobs_fail_clearly_and_the_queue_goes_on(services, params, message):
    params = dict(params)
    init = params.pop("init_images", [noise_image(960, 640)])
    events = list(services.queue.run(Job(init_images=init, **dict(FAST, **params))))
    assert isinstance(events[-1], Failed) and message in events[-1].error
    assert done_of(services, job()).images


def test_several_init_pictures_are_the_batch(services):
    sources = [noise_image(64, 64, 1), noise_image(64, 64, 2)]
    done = done_of(services, Job(init_images=sources, batch_size=4, **dict(FAST, denoising_strength=0)))
    assert len(done.images) == 2
    for out, source in zip(done.images, sources):
        assert np.array_equal(pixels(out), pixels(source))


def test_a_job_without_init_pictures_is_txt2img(services, inpaint_services):
    events = run_job(services, Job(**dict(FAST, seed=21, width=96)))
    assert len([e for e in events if isinstance(e, Progress)]) == 4  # every step: no denoising strength
    done = events[-1]
    assert done.images[0].size == (96, 64) and "Denoising strength" not in done.infotexts[0]
    assert done_of(inpaint_services, Job(**FAST)).images[0].size == (64, 64)


def test_unloaded_model_comes_back_for_the_next_job(services):
    services.models.unload()
    assert services.models.model is None
    assert done_of(services, job()).images and services.models.model is not None
    model = services.models.model
    assert services.models.reload() == model.info and services.models.model is not model


def test_tiling_makes_the_model_seamless_for_the_job_only(services):
    import torch

    from pipelines.models import seamless
    job = dict(init_images=[noise_image(64, 64)], width=64, height=64, steps=3, seed=4)
    tiled = done_of(services, Job(**job, tiling=True))
    plain = done_of(services, Job(**job))
    assert "Tiling: True" in tiled.infotexts[0] and "Tiling" not in plain.infotexts[0]
    assert not np.array_equal(pixels(tiled.images[0]), pixels(plain.images[0]))
    model = services.models.model
    convs = [m for m in model.pipe.vae.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {c.padding_mode for c in convs} == {"zeros"}  # the job's tiling was taken out after it
    # With it, the decoder sees the latents as a torus: shifting them shifts the picture, whose left and right
    # edges continue each other as any two neighbouring columns do.
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    vae = model.pipe.vae
    with torch.no_grad(), seamless(model, True):
        picture = vae.decode(latents.to(vae.dtype)).sample
        shifted = vae.decode(torch.roll(latents, 3, dims=3).to(vae.dtype)).sample
    torch.testing.assert_close(shifted, torch.roll(picture, 24, dims=3), atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        flat = vae.decode(torch.roll(latents, 3, dims=3).to(vae.dtype)).sample
    assert (flat - torch.roll(picture, 24, dims=3)).abs().max() > 1e-2
