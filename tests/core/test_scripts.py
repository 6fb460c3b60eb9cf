"""Scripts on the queue: one entry whose progress counts across all of its Jobs, interrupted or skipped like any job,
checked when submitted."""
import threading

from pipelines import Done, Failed, Job, Progress, Result
from tests.helpers import noise_image


def loopback_job(loops, **fields):
    return Job(init_images=[noise_image(64, 64)], width=64, height=64, steps=3, seed=3, script_name="Loopback",
               script_args=[loops, 0.5, "Linear", "None"], **fields)


def test_progress_counts_across_the_scripts_jobs(services):
    events = list(services.queue.submit(loopback_job(3), owner="progress"))
    done = events[-1]
    assert isinstance(done, Done) and len(done.images) == 4
    progress = [(e.job_no, e.job_count) for e in events if isinstance(e, Progress)]
    assert {no for no, _ in progress} == {0, 1, 2} and {count for _, count in progress} == {3}
    assert [no for no, _ in progress] == sorted(no for no, _ in progress)
    results = [e for e in events if isinstance(e, Result)]
    assert [r.index for r in results] == [0, 1, 2, 3]  # each loop's picture as it comes, then the grid


def test_interrupt_stops_the_script_between_and_within_its_jobs(services):
    handle = services.queue.submit(loopback_job(30), owner="interrupter")
    seen = []
    for event in handle:
        seen.append(event)
        if isinstance(event, Result):
            services.queue.interrupt("interrupter")
    done = seen[-1]
    assert isinstance(done, Done) and done.interrupted
    assert 1 <= len([e for e in seen if isinstance(e, Result)]) < 30


def test_skip_ends_the_current_job_of_a_script_and_it_goes_on(services):
    job = Job(init_images=[noise_image(64, 64)], width=64, height=64, steps=40, seed=3, script_name="prompt matrix",
              prompt="a|b", script_args=[])
    handle = services.queue.submit(job, owner="skipper")
    skipped = threading.Event()
    for event in handle:
        if isinstance(event, Progress) and event.job_no == 0 and event.step >= 2 and not skipped.is_set():
            services.queue.skip("skipper")
            skipped.set()
    assert isinstance(event, Done) and not event.interrupted
    assert len(event.images) == 1  # the first combination skipped, the second made; no grid without all of them


def test_a_bad_script_job_fails_at_once_naming_the_problem(services):
    for job, words in [
            (Job(script_name="Loopback", script_args=[2]), "Loopback needs an init image"),
            (Job(init_images=[noise_image(64, 64)], width=64, height=64, script_name="sd upscale",
                 script_args=["", 64]), "the tile overlap (64) must be smaller than the tile size 64x64"),
            (Job(init_images=[noise_image(64, 64)], script_name="x/y/z plot", script_args=[4, "1, two"]),
             "a value of Steps is not a int"),
            (Job(script_name="prompts from file or textbox", script_args=[False, False, "start", "  \n"]),
             "the list of prompt inputs is empty")]:
        [failed] = list(services.queue.submit(job, owner="bad"))
        assert isinstance(failed, Failed) and failed.invalid and words in failed.error, failed.error


SOFT_ON = {"soft inpainting": {"args": [True, 1, 0.5, 4, 0, 0.5, 2]}}


def test_soft_inpainting_changes_the_picture_only_with_a_mask_and_only_when_on(services):
    from tests.helpers import pixels, rect_mask
    base = dict(init_images=[noise_image(128, 128)], width=128, height=128, steps=4, seed=2, mask_blur=8)
    masked = dict(base, mask=rect_mask(128, 128, (48, 48, 80, 80)))
    plain = run_one(services, Job(**masked))
    soft = run_one(services, Job(**masked, alwayson_scripts=SOFT_ON))
    off = run_one(services, Job(**masked, alwayson_scripts={"Soft Inpainting": {"args": [False]}}))
    assert not (pixels(plain.images[0]) == pixels(soft.images[0])).all()
    assert (pixels(plain.images[0]) == pixels(off.images[0])).all()
    # far from the (blurred) mask the latents did not change: the original's pixels come back exactly
    assert (pixels(soft.images[0])[:8, :8] == pixels(base["init_images"][0])[:8, :8]).all()
    unmasked = run_one(services, Job(**base))
    unmasked_soft = run_one(services, Job(**base, alwayson_scripts=SOFT_ON))
    assert (pixels(unmasked.images[0]) == pixels(unmasked_soft.images[0])).all()
    assert "Soft inpainting" not in unmasked_soft.infotexts[0]
    line = soft.infotexts[0].split("\n")[-1]
    assert ("Denoising strength: 0.75, Soft inpainting enabled: True, Soft inpainting schedule bias: 1, "
            "Soft inpainting preservation strength: 0.5, Soft inpainting transition contrast boost: 4, "
            "Soft inpainting mask influence: 0, Soft inpainting difference threshold: 0.5, "
            "Soft inpainting difference contrast: 2, Mask blur: 8") in line


def run_one(services, job):
    done = list(services.queue.submit(job, owner="soft"))[-1]
    assert isinstance(done, Done), getattr(done, "error", done)
    return done


def test_an_xyz_checkpoint_axis_loads_each_checkpoint_once(services):
    loads = []
    load = services.models._load
    services.models._load = lambda info: loads.append(info.title) or load(info)  # count the loads
    try:
        job = Job(init_images=[noise_image(64, 64)], width=64, height=64, steps=2, seed=1, script_name="x/y/z plot",
                  script_args=[10, "builtin:tiny-inpainting, builtin:tiny", [], 4, "1, 2"])
        done = list(services.queue.submit(job, owner="xyz"))[-1]
    finally:
        services.models._load = load
    assert isinstance(done, Done), getattr(done, "error", done)
    assert loads == ["builtin:tiny-inpainting", "builtin:tiny"]  # the costly axis outermost, each loaded once
    assert services.models.title == "builtin:tiny"  # the server's model, loaded again after the script
    assert len(done.images) == 1 and "X Type: Checkpoint name" in done.infotexts[0]
