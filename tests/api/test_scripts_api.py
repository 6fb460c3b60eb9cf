"""A1111's img2img scripts through the API with A1111's own argument shapes, against app.py on 127.0.0.1 with the
built-in model and a tiny ESRGAN-architecture upscaler in the A1111 models folder."""
import json
import math

import numpy as np
import pytest
import requests

from pipelines.infotext import parse_generation_parameters
from tests.api.test_api import SMALL, b64, decode, post
from tests.helpers import noise_image, pixels, write_esrgan
from tests.server import app_server


@pytest.fixture(scope="module")
def api(tmp_path_factory, face_models):
    tmp = tmp_path_factory.mktemp("scripts-api")
    write_esrgan(tmp / "a1111-models" / "ESRGAN" / "tiny-esrgan.safetensors")
    (tmp / "a1111-models" / "GFPGAN").symlink_to(face_models, target_is_directory=True)
    with app_server(str(tmp), "--api") as (url, _):
        yield url + "/sdapi/v1", tmp


def img2img(api, script_name, script_args, **fields):
    body = dict(SMALL, init_images=[b64(noise_image(64, 64))], script_name=script_name, script_args=script_args)
    body.update(fields)
    result = post(api, "img2img", body)
    info = json.loads(result["info"])
    return [decode(i) for i in result["images"]], info


def params(infotext):
    return parse_generation_parameters(infotext)


def test_sd_upscale_with_a1111s_test_payload(api):
    images, info = img2img(api, "sd upscale", ["", 8, "Lanczos", 2.0])
    assert [i.size for i in images] == [(128, 128)]
    found = params(info["infotexts"][0])
    assert found["SD upscale overlap"] == "8" and found["SD upscale upscaler"] == "Lanczos"
    assert found["Size-1"] == "64"  # the tiles are processed at W x H
    assert len(info["infotexts"]) == 1


def test_an_esrgan_file_is_listed_and_used_by_index_and_by_name(api):
    listed = requests.get(f"{api[0]}/upscalers", timeout=30).json()
    names = [u["name"] for u in listed]
    assert names == ["None", "Lanczos", "Nearest", "tiny-esrgan"]
    assert listed[3]["model_path"].endswith("ESRGAN/tiny-esrgan.safetensors") and listed[3]["scale"] == 4
    by_index, info = img2img(api, "SD upscale", [None, 0, 3, 2], denoising_strength=0.2)
    assert params(info["infotexts"][0])["SD upscale upscaler"] == "tiny-esrgan"
    by_name, _ = img2img(api, "SD upscale", [None, 0, "tiny-esrgan", 2], denoising_strength=0.2)
    lanczos, _ = img2img(api, "SD upscale", [None, 0, "Lanczos", 2], denoising_strength=0.2)
    assert by_index[0].size == (128, 128)
    assert np.array_equal(pixels(by_index[0]), pixels(by_name[0]))
    assert np.abs(pixels(by_index[0]) - pixels(lanczos[0])).mean() > 5


def test_the_img2img_upscaler_setting_enlarges_init_pictures_with_the_model(api):
    small = noise_image(32, 32, seed=3)
    body = dict(SMALL, init_images=[b64(small)], denoising_strength=0.0)
    plain = decode(post(api, "img2img", body)["images"][0])
    upscaled = decode(post(api, "img2img", dict(body, override_settings={
        "upscaler_for_img2img": "tiny-esrgan"}))["images"][0])
    assert plain.size == upscaled.size == (64, 64)
    assert np.abs(pixels(plain) - pixels(upscaled)).mean() > 5
    error = post(api, "img2img", dict(body, override_settings={"upscaler_for_img2img": "4x-nothing"}), 422)
    assert "upscaler '4x-nothing' not found" in error["detail"]


def test_loopback_feeds_each_picture_back_along_the_curve(api):
    images, info = img2img(api, "loopback", [3, 0.3, "Lazy", "None"], denoising_strength=0.75)
    assert len(images) == 4 and images[0].size == (192, 64)  # the loops' grid in one row, then each loop
    assert info["index_of_first_image"] == 1
    loops = [params(t) for t in info["infotexts"][1:]]
    assert [p["Seed"] for p in loops] == ["5", "6", "7"]
    expected = [0.75 + (0.3 - 0.75) * (1 - math.cos(x * math.pi / 2)) for x in (0, 0.5, 1)]
    assert [float(p["Denoising strength"]) for p in loops] == pytest.approx(expected)
    assert loops[0]["Final denoising strength"] == "0.3" and loops[0]["Denoising curve"] == "Lazy"


def saved(api):
    return sorted((api[1] / "outputs").rglob("*.png")) if (api[1] / "outputs").exists() else []


def test_outpainting_mk2_widens_to_a_multiple_of_64(api):
    before = saved(api)
    images, info = img2img(api, "outpainting mk2", ["", 40, 8, ["left", "right"], 1.0, 0.05],
                           denoising_strength=0.8)
    assert saved(api) == before  # save_images is false: nothing written
    img2img(api, "outpainting mk2", ["", 40, 8, ["left"], 1.0, 0.05], save_images=True)
    assert len(saved(api)) == len(before) + 1
    assert [i.size for i in images] == [(192, 64)]  # 64 + 2 x 40 rounded up to 192, 64 more on each side
    assert params(info["infotexts"][0])["Mask blur"] == "32"  # A1111 blurs 4 times the script's mask blur


def test_poor_mans_outpainting_keeps_the_picture_and_fills_the_border(api):
    source = noise_image(64, 64)
    images, info = img2img(api, "poor man's outpainting", [32, 4, 0, ["down"]], denoising_strength=0.8)
    assert [i.size for i in images] == [(64, 128)]
    assert np.array_equal(pixels(images[0])[:32], pixels(source)[:32])  # above the first tile's overlap: untouched
    assert params(info["infotexts"][0])["Mask blur"] == "8"


def test_prompt_matrix_makes_every_combination_and_a_legend_grid(api):
    images, info = img2img(api, "prompt matrix", [False, False, "positive", "comma", 0], prompt="a cat|red|blue")
    assert len(images) == 5 and info["index_of_first_image"] == 1
    assert images[0].width == 128 + 48 and images[0].height > 128  # 2 x 2 pictures, legends above and left
    assert info["all_prompts"] == ["a cat", "a cat, red", "a cat, blue", "a cat, red, blue"]
    assert [t.split("\n")[0] for t in info["infotexts"][1:]] == info["all_prompts"]
    assert {params(t)["Seed"] for t in info["infotexts"]} == {"5"}


def test_prompts_from_a_textbox_one_job_per_line_with_a1111s_options(api):
    lines = 'a red apple\n--prompt "a green pear" --steps 2 --seed 7 --sampler_name "euler a"\n\n'
    images, info = img2img(api, "prompts from file or textbox", [False, False, "start", lines], prompt="painting")
    assert len(images) == 2
    first, second = (params(t) for t in info["infotexts"])
    assert first["Prompt"] == "a red apple painting" and first["Steps"] == "4"
    assert second["Prompt"] == "a green pear painting" and second["Steps"] == "2" and second["Seed"] == "7"
    assert second["Sampler"] == "Euler a"


def test_xyz_plot_grid_with_legends_and_the_pictures(api):
    args = [4, "2-3", [], 9, "", ["Euler", "DDIM"], 0, "", [], True, True, False, False, False, False, False, 0, False]
    images, info = img2img(api, "x/y/z plot", args)
    assert len(images) == 5 and info["index_of_first_image"] == 1
    grid = params(info["infotexts"][0])
    assert grid["Script"] == "X/Y/Z plot" and grid["X Type"] == "Steps" and grid["X Values"] == "2-3"
    assert grid["Y Type"] == "Sampler"
    cells = [(params(t)["Steps"], params(t)["Sampler"]) for t in info["infotexts"][1:]]
    assert cells == [("2", "Euler"), ("3", "Euler"), ("2", "DDIM"), ("3", "DDIM")]
    assert images[0].width > 128 and images[0].height > 128  # the cells and the legends beside and above them


def test_xyz_plot_z_axis_sub_grids_and_seed_ranges(api):
    args = [1, "1-3 [2]", [], 0, "", [], 25, "0.3, 0.6", [], True, False, True, False, False, False, False, 4, True]
    images, info = img2img(api, "x/y/z plot", args)
    assert len(images) == 3  # the grid of grids, then one grid per Z value
    assert images[1].width == 64 * 2 + 4 and images[1].height > 64  # two cells 4 px apart under their legends
    assert params(info["infotexts"][0])["Fixed X Values"] == "1, 3"
    assert params(info["infotexts"][0])["Z Type"] == "Denoising"


def test_xyz_plot_axes_this_server_lacks_are_named(api):
    args = [6, "1, 2", [], 0, "", [], 0, "", []]
    error = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], script_name="X/Y/Z plot",
                                      script_args=args), 422)
    assert "'Image CFG Scale' is not available" in error["detail"]


def test_txt2img_runs_its_scripts(api):
    body = dict(SMALL, prompt="a|b", script_name="prompt matrix", script_args=[])
    result = post(api, "txt2img", body)
    assert len(result["images"]) == 3
    error = post(api, "txt2img", dict(SMALL, script_name="sd upscale", script_args=[]), 422)
    assert "img2img script" in error["detail"]


def test_soft_inpainting_as_an_always_on_script(api):
    from tests.helpers import rect_mask
    body = dict(SMALL, init_images=[b64(noise_image(64, 64))], mask=b64(rect_mask(64, 64, (16, 16, 48, 48))),
                mask_blur=8, alwayson_scripts={"Soft Inpainting": {"args": [True, 1, 0.5, 4, 0, 0.5, 2]}})
    found = params(json.loads(post(api, "img2img", body)["info"])["infotexts"][0])
    assert found["Soft inpainting enabled"] == "True" and found["Soft inpainting difference contrast"] == "2"
    error = post(api, "img2img", dict(body, alwayson_scripts={"soft inpainting": {"args": [True, 99]}}), 422)
    assert "mask_blend_power (Schedule bias) is 99" in error["detail"]


def test_face_restorers_are_listed_and_a_missing_one_is_named(api):
    restorers = requests.get(f"{api[0]}/face-restorers", timeout=30).json()
    assert [r["name"] for r in restorers] == ["GFPGAN"] and restorers[0]["cmd_dir"].endswith("a1111-models/GFPGAN")
    body = dict(SMALL, init_images=[b64(noise_image(64, 64))], restore_faces=True)
    error = post(api, "img2img", body, 422)  # the setting face_restoration_model is CodeFormer by default
    assert "CodeFormer needs its weights" in error["detail"] and "a1111-models/Codeformer" in error["detail"]


def test_script_lists_and_their_arguments(api):
    lists = requests.get(f"{api[0]}/scripts", timeout=30).json()
    assert lists["img2img"] == ["prompt matrix", "prompts from file or textbox", "x/y/z plot", "loopback",
                                "outpainting mk2", "poor man's outpainting", "sd upscale", "soft inpainting"]
    assert "loopback" not in lists["txt2img"] and "x/y/z plot" in lists["txt2img"]
    info = requests.get(f"{api[0]}/script-info", timeout=30).json()
    upscale = next(s for s in info if s["name"] == "sd upscale" and s["is_img2img"])
    assert [a["label"] for a in upscale["args"]] == ["Info", "Tile overlap", "Upscaler", "Scale Factor"]
    assert upscale["args"][1] == {"label": "Tile overlap", "value": 64, "minimum": 0, "maximum": 256, "step": 16,
                                  "choices": None}
    assert upscale["args"][2]["choices"] == ["None", "Lanczos", "Nearest", "tiny-esrgan"]
    xyz = next(s for s in info if s["name"] == "x/y/z plot" and not s["is_img2img"])
    assert len(xyz["args"]) == 18
    assert xyz["args"][0]["choices"][:5] == ["Nothing", "Seed", "Var. seed", "Var. strength", "Steps"]
    soft = [s for s in info if s["is_alwayson"]]
    assert [s["name"] for s in soft] == ["soft inpainting", "soft inpainting"]
    assert [a["label"] for a in soft[0]["args"]] == ["Soft inpainting", "Schedule bias", "Preservation strength",
                                                     "Transition contrast boost", "Mask influence",
                                                     "Difference threshold", "Difference contrast"]
