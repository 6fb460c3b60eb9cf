"""The scripts' own rules, exactly as A1111's scripts compute them: loopback's curves, the prompt matrix's
combinations, prompts-from-file lines, X/Y/Z axis values, outpainting sizes and matched noise, argument parsing."""
import math

import numpy as np
import pytest
from PIL import Image

from pipelines.job import JobError
from pipelines.scripts import find_script
from pipelines.scripts.loopback import loop_strength
from pipelines.scripts.matched_noise import matched_noise_image
from pipelines.scripts.outpainting import expansion
from pipelines.scripts.prompt_matrix import matrix_prompts
from pipelines.scripts.prompts_from_file import parse_line
from pipelines.scripts.xyz_axes import AXES, AXIS_LABELS, axis_values
from tests.helpers import noise_image, pixels


@pytest.mark.parametrize("curve, f", [("Linear", lambda x: x), ("Aggressive", lambda x: math.sin(x * math.pi / 2)),
                                      ("Lazy", lambda x: 1 - math.cos(x * math.pi / 2))])
def test_loopback_strength_moves_along_its_curve(curve, f):
    got = [loop_strength(0.8, 0.2, curve, i, 5) for i in range(5)]
    assert got == pytest.approx([0.8 + (0.2 - 0.8) * f(i / 4) for i in range(5)])
    assert loop_strength(0.8, 0.2, curve, 0, 1) == 0.8


def test_prompt_matrix_combinations_in_a1111s_order():
    assert matrix_prompts("a cat|red|big", False, ", ") == ["a cat", "a cat, red", "a cat, big", "a cat, red, big"]
    assert matrix_prompts("cat| red,| big", True, " ") == ["cat", "red cat", "big cat", "red big cat"]


def test_prompts_from_file_lines_parse_as_a1111s_options():
    assert parse_line('--prompt a red "big apple" --steps 3 --cfg_scale 4.5 --sampler_name "euler A"') == {
        "prompt": "a red big apple", "steps": 3, "cfg_scale": 4.5, "sampler_name": "Euler a"}
    assert parse_line("--styles one,two --tiling true") == {"styles": ["one", "two"], "tiling": True}
    with pytest.raises(ValueError, match="unknown commandline option: --colour"):
        parse_line("--colour red")
    with pytest.raises(ValueError, match="missing argument"):
        parse_line("--steps")


def test_xyz_axis_values_and_ranges():
    steps, cfg, sampler = (AXES[AXIS_LABELS.index(n)] for n in ("Steps", "CFG Scale", "Sampler"))
    assert AXIS_LABELS.index("Steps") == 4 and AXIS_LABELS.index("Denoising") == 25 and AXIS_LABELS[41] == "Size"
    assert axis_values(steps, "1-5, 10-20 (+5), 1-3 [5]", [], False) == [1, 2, 3, 4, 5, 10, 15, 20, 1, 1, 2, 2, 3]
    assert axis_values(cfg, "5-7 (+0.5), 0-1 [3]", [], False) == [5.0, 5.5, 6.0, 6.5, 7.0, 0.0, 0.5, 1.0]
    assert axis_values(sampler, "", ["Euler", "DDIM"], False) == ["Euler", "DDIM"]
    assert axis_values(sampler, '"Euler", DDIM', ["LMS"], True) == ["Euler", "DDIM"]
    with pytest.raises(JobError, match="unknown sampler 'Eulr'"):
        axis_values(sampler, "Eulr", [], True)
    with pytest.raises(JobError, match="not a int"):
        axis_values(steps, "2, many", [], True)


def test_outpainting_grows_to_a_multiple_of_64_shared_out_by_direction():
    image = Image.new("RGB", (100, 64))
    assert expansion(image, 128, ["left", "right", "up", "down"]) == (142, 142, 128, 128)  # 384 wide, 320 high
    assert expansion(image, 16, ["down"]) == (0, 0, 0, 64)


def test_matched_noise_keeps_the_picture_and_follows_its_colours():
    image = noise_image(64, 48, seed=4)
    array = np.asarray(image).copy()
    array[..., 0] = array[..., 0] // 4  # little red
    image = Image.fromarray(array)
    mask = Image.new("RGB", (64, 48), "black")
    mask.paste((255, 255, 255), (40, 0, 64, 48))
    first = matched_noise_image(image, mask, 1.0, 0.05)
    assert np.array_equal(pixels(first), pixels(matched_noise_image(image, mask, 1.0, 0.05)))  # fixed seed
    assert np.array_equal(pixels(first)[:, :40], pixels(image)[:, :40])
    new, old = pixels(first)[:, 40:], pixels(image)[:, :40]
    assert abs(new[..., 0].mean() - old[..., 0].mean()) < 8 and new[..., 0].max() <= old[..., 0].max()


def test_script_args_are_positional_as_a1111s_and_checked():
    upscale = find_script("SD UPSCALE").parse(["", "32", 2, "1.5"])
    assert (upscale.args.overlap, upscale.args.upscaler_index, upscale.args.scale_factor) == (32, "2", 1.5)
    assert find_script("sd upscale").parse([]).args.overlap == 64
    xyz = find_script("x/y/z plot").parse(["Steps", "1-3"])
    assert xyz.args.x_type == 4 and xyz.args.draw_legend is True
    with pytest.raises(JobError, match="Loopback takes 4 arguments"):
        find_script("loopback").parse([1, 2, 3, 4, 5])
    with pytest.raises(JobError, match="loops .*must be between 1 and 1000"):
        find_script("loopback").parse([0])
    with pytest.raises(JobError, match="script 'nope' not found"):
        find_script("nope")
    assert find_script("None") is None and find_script("") is None
