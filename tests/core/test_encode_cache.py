"""The VAE encoder runs once per init picture (latents.posterior): a job repeating a picture the model has encoded
in the same state skips the encoder and makes the same pictures as one that encodes it afresh."""
import contextlib

import numpy as np

from pipelines import Job
from pipelines.models import ChunkCache
from tests.conftest import done_of
from tests.helpers import noise_image, pixels, rect_mask

FAST = dict(steps=4, width=64, height=64, denoising_strength=0.75)


@contextlib.contextmanager
def encoder_calls(services):
    """A list that gets an entry each time the model's VAE encoder runs."""
    calls = []
    hook = services.models.model.pipe.vae.encoder.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        hook.remove()


@contextlib.contextmanager
def without_cache(services):
    model = services.models.model
    kept, model.encodings = model.encodings, ChunkCache(0)  # keeps nothing: every job encodes
    try:
        yield
    finally:
        model.encodings = kept


def pictures(done):
    return [pixels(image) for image in done.images]


def test_the_same_picture_again_skips_the_encoder_and_gives_the_same_pictures(services):
    picture = noise_image(64, 64, seed=31)
    with without_cache(services):
        fresh = pictures(done_of(services, Job(init_images=[picture], seed=5, **FAST)))
    with encoder_calls(services) as calls:
        first = pictures(done_of(services, Job(init_images=[picture], seed=5, **FAST)))
        assert len(calls) == 1
        second = pictures(done_of(services, Job(init_images=[picture], seed=6, prompt="another prompt", **FAST)))
        assert len(calls) == 1  # another seed and prompt: the picture's posterior is reused
    assert np.array_equal(first[0], fresh[0])
    assert not np.array_equal(first[0], second[0])  # the seed still samples the posterior anew
    with without_cache(services):
        prompted = pictures(done_of(services, Job(init_images=[picture], seed=6, prompt="another prompt", **FAST)))
    assert np.array_equal(second[0], prompted[0])


def test_a_batch_count_encodes_its_picture_once(services):
    picture = noise_image(64, 64, seed=32)
    with without_cache(services):
        fresh = pictures(done_of(services, Job(init_images=[picture], seed=40, n_iter=3, **FAST)))
    with encoder_calls(services) as calls:
        cached = pictures(done_of(services, Job(init_images=[picture], seed=40, n_iter=3, **FAST)))
    assert len(calls) == 1
    assert all(np.array_equal(a, b) for a, b in zip(cached, fresh)) and len(cached) == 3


def test_another_picture_size_or_tiling_encodes_again(services):
    picture = noise_image(64, 64, seed=33)
    with encoder_calls(services) as calls:
        done_of(services, Job(init_images=[picture], seed=1, **FAST))
        done_of(services, Job(init_images=[noise_image(64, 64, seed=34)], seed=1, **FAST))
        assert len(calls) == 2
        done_of(services, Job(init_images=[picture], seed=1, **dict(FAST, width=96)))
        assert len(calls) == 3
        tiled = pictures(done_of(services, Job(init_images=[picture], seed=1, tiling=True, **FAST)))
        assert len(calls) == 4  # circular padding: another encoder
    with without_cache(services):
        fresh = pictures(done_of(services, Job(init_images=[picture], seed=1, tiling=True, **FAST)))
    assert np.array_equal(tiled[0], fresh[0])


def test_an_inpainting_models_masked_picture_is_encoded_once(inpaint_services):
    picture, mask = noise_image(64, 64, seed=35), rect_mask(64, 64, (16, 16, 48, 48))
    with without_cache(inpaint_services):
        fresh = pictures(done_of(inpaint_services, Job(init_images=[picture], mask=mask, seed=3, **FAST)))
    with encoder_calls(inpaint_services) as calls:
        first = pictures(done_of(inpaint_services, Job(init_images=[picture], mask=mask, seed=3, **FAST)))
        assert len(calls) == 2  # the picture, and the picture with its hole blanked
        done_of(inpaint_services, Job(init_images=[picture], mask=mask, seed=4, **FAST))
        assert len(calls) == 2
    assert np.array_equal(first[0], fresh[0])
