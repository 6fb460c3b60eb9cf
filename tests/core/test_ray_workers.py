"""Jobs on Ray workers (issue 15), through this process's services, on the session's local Ray instance with two CPU
workers: the same pictures as without Ray, saved by this server; interrupt and skip within a step; a worker killed
in the middle of a job."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from pipelines import Done, Failed, Folders, Job, Progress, Result, build_services
from pipelines.saving import read_infotext
from pipelines.workers import RayOptions
from tests.helpers import noise_image, rect_mask


@pytest.fixture(scope="module")
def ray_services(ray_address, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("ray-outputs")
    services = build_services("builtin:tiny", Folders(ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                                                      outdir=str(outdir)), ray=RayOptions(ray_address, 2))
    yield services
    services.close()


def job(**params):
    params = dict(dict(init_images=[noise_image(64, 64, seed=3)], prompt="a cat", steps=4, width=64, height=64,
                       seed=7, denoising_strength=0.6), **params)
    return Job(**params)


def events_of(handle):
    events = list(handle)
    assert not isinstance(events[-1], Failed), events[-1].error
    return events


def test_a_ray_job_makes_the_same_pictures_and_this_server_saves_them(ray_services, services):
    from PIL import Image
    masked = dict(mask=rect_mask(64, 64, (16, 16, 48, 48)), inpainting_fill=2, n_iter=2, batch_size=2)
    for params in ({}, masked):
        on_ray = events_of(ray_services.queue.submit(job(**params), owner="ann"))
        here = events_of(services.queue.submit(job(**params), owner="ann"))
        done_ray, done_here = on_ray[-1], here[-1]
        assert len(done_ray.images) == len(done_here.images) == (4 if params else 1)
        for a, b in zip(done_ray.images, done_here.images):
            assert np.array_equal(np.asarray(a), np.asarray(b))
        assert done_ray.infotexts == done_here.infotexts
        results = [e for e in on_ray if isinstance(e, Result)]
        assert [r.index for r in results] == list(range(len(done_ray.images)))
        for result, image in zip(results, done_ray.images):  # saved here, under this server's outputs
            assert result.path and result.path.startswith(ray_services.queue.workers[0].saver.samples_dir.as_posix())
            with Image.open(result.path) as saved:
                assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image))
                assert read_infotext(saved) == result.infotext
        if params:
            assert done_ray.grid_path and os.path.exists(done_ray.grid_path)


def test_two_workers_run_two_jobs_at_once(ray_services):
    handles = [ray_services.queue.submit(job(steps=8, width=256, height=256, seed=s), owner=o)
               for s, o in ((1, "ann"), (2, "bob"))]
    stamps = {}

    def read(handle):
        stamps[handle.owner] = [time.monotonic() for e in handle if isinstance(e, Progress)]

    threads = [threading.Thread(target=read, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert {h.worker for h in handles} == {"ray-1", "ray-2"}
    ann, bob = stamps["ann"], stamps["bob"]
    assert ann[0] < bob[-1] and bob[0] < ann[-1]  # their steps interleave


def test_interrupt_reaches_a_remote_job_within_one_step(ray_services):
    handle = ray_services.queue.submit(job(steps=20, width=512, height=512, denoising_strength=1.0), owner="cid")
    steps, at_interrupt = 0, None
    for event in handle:
        if isinstance(event, Progress):
            steps += 1
            if steps == 2:
                at_interrupt = steps
                ray_services.queue.interrupt("cid")
    assert isinstance(event, Done) and event.interrupted and not event.images
    assert steps - at_interrupt <= 1  # the step running when the interrupt came, at most


def test_skip_reaches_a_remote_job(ray_services):
    handle = ray_services.queue.submit(job(steps=10, width=256, height=256, denoising_strength=1.0, n_iter=2),
                                       owner="cid")
    for event in handle:
        if isinstance(event, Progress) and event.job_no == 0 and event.step == 2:
            ray_services.queue.skip("cid")
    assert isinstance(event, Done) and not event.interrupted
    assert len(event.images) == 1 and "Seed: 8," in event.infotexts[0]


def test_a_worker_killed_during_a_job_fails_it_clearly_and_the_next_jobs_run(ray_services):
    import ray
    handle = ray_services.queue.submit(job(steps=20, width=512, height=512, denoising_strength=1.0), owner="dan")
    for event in handle:
        if isinstance(event, Progress) and event.step == 1:
            worker = next(w for w in ray_services.queue.workers if w.name == handle.worker)
            os.kill(ray.get(worker.actor.pid.remote(), timeout=30), signal.SIGKILL)
    assert isinstance(event, Failed) and not event.invalid
    assert f"worker {handle.worker} stopped during the job" in event.error
    # both workers take a job: the one Ray started again, and the other
    after = [ray_services.queue.submit(job(seed=s), owner=o) for s, o in ((1, "dan"), (2, "eve"))]
    for h in after:
        assert h.finished.wait(180) and isinstance(h.result, Done) and len(h.result.images) == 1
    assert {h.worker for h in after} == {"ray-1", "ray-2"}
    assert [s["model"] for s in ray_services.queue.worker_states()] == ["builtin:tiny", "builtin:tiny"]
