"""Prompt syntax end to end on the built-in model: emphasis, long prompts, prompt editing per step, AND, BREAK,
Clip skip, comments; and the conditioning the UNet actually receives at each step."""
import numpy as np
import pytest
import torch

from pipelines import Job
from pipelines.conditioning import PromptEncoder, build_conditioning
from pipelines.infotext import parse_generation_parameters
from tests.conftest import done_of
from tests.helpers import noise_image, pixels

FAST = dict(steps=10, width=64, height=64, seed=3, denoising_strength=1.0, sampler_name="Euler")


def picture(services, prompt, **params):
    settings = dict(FAST, **params)
    done = done_of(services, Job(init_images=[noise_image(64, 64, seed=1)], prompt=prompt, **settings))
    return pixels(done.images[0]), done


def same(a, b):
    return np.array_equal(a, b)


@pytest.fixture(scope="module")
def unet_calls(services):
    """Every UNet call's `encoder_hidden_states` while the fixture's list is recording."""
    calls = []

    def record(_module, args, kwargs):
        calls.append(kwargs["encoder_hidden_states"].detach().clone())

    hook = services.models.model.pipe.unet.register_forward_pre_hook(record, with_kwargs=True)
    yield calls
    hook.remove()


def test_weight_one_is_no_weight_and_other_weights_change_the_picture(services):
    plain, _ = picture(services, "cat")
    assert same(picture(services, "(cat:1.0)")[0], plain)
    assert not same(picture(services, "(cat:1.5)")[0], plain)
    assert not same(picture(services, "[cat]")[0], plain)


def test_emphasis_ignore_and_none(services):
    plain, _ = picture(services, "cat")
    ignored, done = picture(services, "(cat:1.5)", override_settings={"emphasis": "Ignore"})
    assert same(ignored, plain)
    assert parse_generation_parameters(done.infotexts[0])["Emphasis"] == "Ignore"
    literal, _ = picture(services, "(cat:1.5)", override_settings={"emphasis": "None"})
    assert not same(literal, plain)  # the brackets and the number are words then
    bad = list(services.queue.run(Job(prompt="cat", width=64, height=64, steps=2,
                                      override_settings={"emphasis": "Loud"})))
    assert bad[-1].invalid and "emphasis" in bad[-1].error


def test_a_long_prompt_uses_all_its_chunks(services):
    """The built-in tokenizer makes one token of each byte of a word: 200 letters are 200 tokens, three chunks."""
    long_prompt = "abcdefghij" * 20
    assert PromptEncoder(services.models.model).chunker.token_count(long_prompt) == (200, 225)
    encoder = PromptEncoder(services.models.model)
    assert encoder.encode(long_prompt).hidden.shape[1] == 3 * 77
    full, _ = picture(services, long_prompt)
    first, _ = picture(services, long_prompt[:75])
    assert not same(full, first)
    assert same(picture(services, long_prompt)[0], full)


def test_break_and_padding(services):
    encoder = PromptEncoder(services.models.model)
    assert encoder.encode("cat BREAK dog").hidden.shape[1] == 154
    assert not same(picture(services, "cat BREAK dog")[0], picture(services, "cat dog")[0])
    # prompts of different lengths: separate UNet calls (A1111's default), or one with the shorter padded
    separate = build_conditioning(encoder, "cat", "x" * 100, 10, 1, 7, (64, 64)).at(1)
    assert [(g.rows, g.hidden.shape[1]) for g in separate] == [(slice(0, 1), 154), (slice(1, 2), 77)]
    [padded] = build_conditioning(encoder, "cat", "x" * 100, 10, 1, 7, (64, 64), pad_mode="empty").at(1)
    assert padded.hidden.shape[:2] == (2, 154)
    assert torch.equal(padded.hidden[1, 77:], encoder.encode("").hidden[0])
    [v0] = build_conditioning(encoder, "x" * 100, "cat", 10, 1, 7, (64, 64), pad_mode="last").at(1)
    assert v0.hidden.shape[:2] == (2, 154)
    assert torch.equal(v0.hidden[0, 77:], encoder.encode("cat").hidden[0, -1:].repeat(77, 1))


def test_prompt_editing_switches_where_a1111_switches(services, unet_calls):
    """`[dog:cat:0.5]` at 20 steps is `dog` up to step 10 of A1111's schedule over all 20 steps, compared with a
    counter of model calls from 0: at 0.75, 16 calls run, 11 of dog and 5 of cat (checked on the UNet's input)."""
    encoder = PromptEncoder(services.models.model)
    dog, cat = encoder.encode("dog").hidden[0], encoder.encode("cat").hidden[0]
    unet_calls.clear()
    _, done = picture(services, "[dog:cat:0.5]", steps=20, denoising_strength=0.75, sampler_name="Euler")
    assert len(unet_calls) == 16
    positive = [call[1] for call in unet_calls]  # row 0 is the negative prompt
    assert [torch.allclose(p, dog) for p in positive] == [True] * 11 + [False] * 5
    assert all(torch.allclose(p, cat) for p in positive[11:])
    assert done.infotexts[0].startswith("[dog:cat:0.5]\n")


def test_prompt_editing_counts_both_calls_of_a_second_order_step(services, unet_calls):
    """Heun calls the model twice a step: A1111 doubles the schedule (40 for 20 steps), so the switch at 0.5 comes
    after call 20 of Heun's 31 (16 steps, the last one a single call)."""
    encoder = PromptEncoder(services.models.model)
    dog = encoder.encode("dog").hidden[0]
    unet_calls.clear()
    picture(services, "[dog:cat:0.5]", steps=20, denoising_strength=0.75, sampler_name="Heun")
    assert len(unet_calls) == 31
    assert [torch.allclose(call[1], dog) for call in unet_calls] == [True] * 21 + [False] * 10


def test_alternation_follows_a1111s_call_counter(services, unet_calls):
    """A1111's alternation schedule has `dog` at step 1, `cat` at 2, ...; its call counter starts at 0, so the first
    two calls are `dog`: [dog, dog, cat, dog] for 4 calls."""
    encoder = PromptEncoder(services.models.model)
    dog, cat = encoder.encode("dog").hidden[0], encoder.encode("cat").hidden[0]
    unet_calls.clear()
    picture(services, "[dog|cat]", steps=4, denoising_strength=0.75, sampler_name="Euler")
    assert [torch.allclose(call[1], dog) for call in unet_calls] == [True, True, False, True]
    assert [torch.allclose(call[1], cat) for call in unet_calls] == [False, False, True, False]


def test_and_combines_parts(services, unet_calls):
    dog, _ = picture(services, "dog")
    unet_calls.clear()
    both, _ = picture(services, "dog AND cat")
    assert unet_calls[0].shape[0] == 3  # negative, dog, cat in one UNet call
    assert not same(both, dog)
    zero, _ = picture(services, "dog AND cat:0")  # a part at weight 0 adds nothing
    assert np.abs(zero - dog).max() <= 1


def test_clip_skip(services):
    plain, _ = picture(services, "cat")
    skipped, done = picture(services, "cat", override_settings={"CLIP_stop_at_last_layers": 2})
    assert not same(skipped, plain)
    params = parse_generation_parameters(done.infotexts[0])
    assert params["Clip skip"] == "2"
    assert "Clip skip" not in done_of(services, Job(prompt="cat", width=64, height=64, steps=1)).infotexts[0]
    bad = list(services.queue.run(Job(prompt="cat", override_settings={"CLIP_stop_at_last_layers": 13})))
    assert bad[-1].invalid and "Clip skip" in bad[-1].error


def test_comments_are_stripped(services):
    plain, _ = picture(services, "cat\n")
    commented, done = picture(services, "cat # a comment\n# a line")
    assert same(commented, plain)
    assert "comment" not in done.infotexts[0]


def test_nonsense_prompts_run(services):
    for prompt in ["[[[", "(a:1.2.3)", "a | b", "[a:b|c:1]", "AND AND", "<lora:>"]:
        done_of(services, Job(prompt=prompt, width=64, height=64, steps=2))


def test_a_job_repeating_earlier_prompts_skips_the_text_encoder_for_the_same_picture(services):
    encoder = services.models.model.pipe.text_encoder
    calls = []
    hook = encoder.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        first, _ = picture(services, "a lighthouse at dusk, (storm:1.2)", negative_prompt="")
        made = len(calls)
        again, _ = picture(services, "a lighthouse at dusk, (storm:1.2)", negative_prompt="")
        assert made >= 1 and len(calls) == made  # the second time, prompt and negative come from the model's cache
        assert same(first, again)
        picture(services, "a lighthouse at dusk, (storm:1.2)", override_settings={"CLIP_stop_at_last_layers": 2})
        assert len(calls) > made  # Clip skip is part of what was encoded
    finally:
        hook.remove()
