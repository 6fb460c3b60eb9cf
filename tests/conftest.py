import pytest

from pipelines import Done, Engine, Failed


@pytest.fixture(scope="session")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def engine(outdir, tmp_path_factory):
    engine = Engine(ckpt="builtin:tiny", ckpt_dir=str(tmp_path_factory.mktemp("no-models")), outdir=str(outdir))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def inpaint_engine(outdir, tmp_path_factory):
    engine = Engine(ckpt="builtin:tiny-inpainting", ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                    outdir=str(outdir))
    yield engine
    engine.close()


def run_job(engine, job):
    """All events of a job; fails the test with the engine's reason if the job failed."""
    events = list(engine.run(job))
    if isinstance(events[-1], Failed):
        pytest.fail(f"job failed: {events[-1].error}")
    assert isinstance(events[-1], Done)
    return events


def done_of(engine, job) -> Done:
    return run_job(engine, job)[-1]
