"""Settings and saved files through the API: A1111's whole option set, jpg and webp outputs that keep their infotext,
and the infotext request field."""
import base64
import json

import pytest
import requests
from PIL import Image

from pipelines.infotext import parse_generation_parameters
from tests.api.test_api import SMALL, b64, post
from tests.helpers import noise_image
from tests.server import app_server


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settings-api")
    with app_server(str(tmp), "--api") as (url, _):
        yield url + "/sdapi/v1", tmp


def test_options_are_a1111s_whole_set(api):
    options = requests.get(f"{api[0]}/options", timeout=30).json()
    assert options["send_seed"] is True and options["samples_format"] == "png" and options["jpeg_quality"] == 80
    assert options["sd_model_checkpoint"] == "builtin:tiny" and options["face_restoration_model"] == "CodeFormer"
    assert len(options) > 250
    error = post(api, "options", {"samples_format": "bmp"}, 422)
    assert "samples_format" in error["detail"] and "png, jpg, jpeg, webp" in error["detail"]


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_jpg_and_webp_samples_keep_their_infotext(api, fmt):
    import glob
    import os
    post(api, "options", {"samples_format": fmt})
    try:
        before = set(glob.glob(os.path.join(str(api[1]), "outputs", "img2img-images", "*", f"*.{fmt}")))
        result = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], prompt="a cat, café",
                                           save_images=True))
        [path] = set(glob.glob(os.path.join(str(api[1]), "outputs", "img2img-images", "*", f"*.{fmt}"))) - before
    finally:
        post(api, "options", {"samples_format": "png"})
    infotext = json.loads(result["info"])["infotexts"][0]
    saved = Image.open(path)
    assert saved.format == {"jpg": "JPEG", "webp": "WEBP"}[fmt]
    with open(path, "rb") as f:
        encoded = base64.b64encode(f.read()).decode()
    read_back = post(api, "png-info", {"image": encoded})
    assert read_back["info"] == infotext and read_back["parameters"]["Prompt"] == "a cat, café"


def test_the_infotext_field_fills_what_the_request_leaves_unset(api):
    infotext = ("a red fox\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, Schedule type: Karras, CFG scale: 5, "
                "Seed: 42, Size: 64x64, Denoising strength: 0.5, Clip skip: 2, Mask blur: 6, "
                "Masked content: latent noise, ENSD: 31337, Version: v1.10.1")
    body = {"init_images": [b64(noise_image(64, 64))], "infotext": infotext, "steps": 2, "sampler_name": "DDIM"}
    result = post(api, "img2img", body)
    found = parse_generation_parameters(json.loads(result["info"])["infotexts"][0])
    assert found["Prompt"] == "a red fox" and found["Negative prompt"] == "blurry"
    assert found["Steps"] == "2" and found["Sampler"] == "DDIM"  # the request's own values win
    assert found["Seed"] == "42" and found["CFG scale"] == "5" and found["Denoising strength"] == "0.5"
    assert found["Clip skip"] == "2"  # a setting, as override_settings
