import pytest

from pipelines import Done, Failed, Folders, build_services


@pytest.fixture(scope="session")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def upscaler_dir(tmp_path_factory):
    """The A1111 models folder of the `services` fixture (upscaler models go under ESRGAN/ and the like)."""
    return tmp_path_factory.mktemp("a1111-models")


@pytest.fixture(scope="session")
def face_models(tmp_path_factory):
    """A GFPGAN restorer and facexlib's detection and parsing files at their real architectures (random weights,
    made once a session: about 260 MB); link the folder into an A1111 models folder as GFPGAN/."""
    from tests.helpers import write_facexlib_weights, write_gfpgan
    folder = tmp_path_factory.mktemp("face-models")
    write_gfpgan(folder / "GFPGANv1.4.safetensors")
    write_facexlib_weights(folder)
    return folder


@pytest.fixture(scope="session")
def services(outdir, upscaler_dir, tmp_path_factory):
    services = build_services("builtin:tiny", Folders(ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                                                      outdir=str(outdir), models_dir=str(upscaler_dir)))
    yield services
    services.close()


@pytest.fixture(scope="session")
def inpaint_services(outdir, tmp_path_factory):
    services = build_services("builtin:tiny-inpainting", Folders(ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                                                                 outdir=str(outdir)))
    yield services
    services.close()


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray instance for the session (2 CPUs, on 127.0.0.1), started when a test first needs it; servers
    and batches started by the tests join it with `--ray <this address>`."""
    import ray

    from pipelines.ray_workers import start_ray
    start_ray("local", cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def run_job(services, job):
    """All events of a job; fails the test with the services's reason if the job failed."""
    events = list(services.queue.run(job))
    if isinstance(events[-1], Failed):
        pytest.fail(f"job failed: {events[-1].error}")
    assert isinstance(events[-1], Done)
    return events


def done_of(services, job) -> Done:
    return run_job(services, job)[-1]
