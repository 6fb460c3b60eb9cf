"""--compile and --vae-tiling on the CPU, on the built-in model: the compiled UNet's picture is eager's within one
level and compiles once per size (timesteps, seeds, img2img and inpaint reuse it); the tiled VAE decodes in tiles."""
import numpy as np
import pytest

from pipelines import Folders, Job, Placement, build_services
from tests.conftest import done_of
from tests.helpers import noise_image, pixels, rect_mask


def job(**params):
    return Job(**dict(dict(init_images=[noise_image(64, 64, seed=2)], steps=3, width=64, height=64, seed=9,
                           denoising_strength=0.8, sampler_name="Euler"), **params))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("inductor")))
    services = build_services("builtin:tiny", Folders(ckpt_dir=str(tmp_path_factory.mktemp("no-models")),
                                                      outdir=str(tmp_path_factory.mktemp("out"))),
                              Placement(device="cpu", compile=True))
    yield services
    services.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_compiled_unet_gives_eagers_picture_and_compiles_once_per_size(compiled, services):
    import torch._dynamo
    first = pixels(done_of(compiled, job()).images[0])
    eager = pixels(done_of(services, job()).images[0])
    assert np.abs(first.astype(int) - eager.astype(int)).max() <= 1
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert frames > 0  # the blocks did compile
    done_of(compiled, job(seed=10, steps=5, denoising_strength=0.5))  # other timesteps and noise
    done_of(compiled, job(mask=rect_mask(64, 64, (16, 16, 48, 48))))  # inpaint at the same size
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames, "recompiled at the same size"


def test_the_tiled_vae_decodes_big_pictures_in_tiles(tmp_path):
    services = build_services("builtin:tiny", Folders(ckpt_dir=str(tmp_path / "none"), outdir=str(tmp_path)),
                              Placement(device="cpu", vae_tiling=True))
    try:
        vae = services.models.model.pipe.vae
        calls = []
        hook = vae.decoder.register_forward_pre_hook(lambda *_: calls.append(1))
        size = 2 * vae.tile_sample_min_size
        done = done_of(services, job(init_images=[noise_image(size, size, seed=2)], width=size, height=size, steps=2))
        hook.remove()
        assert done.images[0].size == (size, size) and len(calls) > 1
    finally:
        services.close()
