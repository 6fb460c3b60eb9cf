"""A1111's own API tests (its `test/test_img2img.py`, `test_txt2img.py`, `test_utils.py`), with their request bodies as
A1111 sends them, against app.py on 127.0.0.1: the built-in model, and a face restorer in the A1111 models folder (the
weights of A1111's CI come from downloads this machine cannot make; these are random ones of the same
architectures)."""
import pytest
import requests

from tests.api.test_api import b64
from tests.helpers import noise_image, rect_mask
from tests.server import app_server


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, face_models):
    tmp = tmp_path_factory.mktemp("a1111-suite")
    (tmp / "a1111-models").mkdir()
    (tmp / "a1111-models" / "GFPGAN").symlink_to(face_models, target_is_directory=True)
    with app_server(str(tmp), "--api") as (url, _):
        requests.post(f"{url}/sdapi/v1/options", json={"face_restoration_model": "GFPGAN"}, timeout=30)
        yield url


@pytest.fixture()
def simple_img2img_request():
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0.75, "eta": 0, "height": 64,
            "include_init_images": False, "init_images": [b64(noise_image(64, 64))], "inpaint_full_res": False,
            "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": False, "mask": None,
            "mask_blur": 4, "n_iter": 1, "negative_prompt": "", "override_settings": {}, "prompt": "example prompt",
            "resize_mode": 0, "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


@pytest.fixture()
def simple_txt2img_request():
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
            "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1, "negative_prompt": "",
            "prompt": "example prompt", "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


MASK = b64(rect_mask(64, 64, (16, 16, 48, 48)))


@pytest.mark.parametrize("changes", [{}, {"mask": MASK}, {"mask": MASK, "inpainting_mask_invert": True},
                                     {"script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0]}],
                         ids=["simple", "inpainting", "inverted mask", "sd upscale"])
def test_img2img_performed(base_url, simple_img2img_request, changes):
    simple_img2img_request.update(changes)
    response = requests.post(f"{base_url}/sdapi/v1/img2img", json=simple_img2img_request, timeout=300)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("changes", [
    {}, {"negative_prompt": "example negative prompt"},
    {"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"}, {"height": 128},
    {"enable_hr": True}, {"tiling": True}, {"restore_faces": True}, {"sampler_index": "PLMS"},
    {"sampler_index": "DDIM"}, {"sampler_index": "UniPC"}, {"n_iter": 2}, {"batch_size": 2}],
    ids=["simple", "negative prompt", "complex prompt", "not square", "hrfix", "tiling", "restore faces", "PLMS",
         "DDIM", "UniPC", "multiple batches", "batch"])
def test_txt2img_performed(base_url, simple_txt2img_request, changes):
    simple_txt2img_request.update(changes)
    response = requests.post(f"{base_url}/sdapi/v1/txt2img", json=simple_txt2img_request, timeout=300)
    assert response.status_code == 200, response.text


def test_options_write(base_url):
    url_options = f"{base_url}/sdapi/v1/options"
    response = requests.get(url_options, timeout=30)
    assert response.status_code == 200
    pre_value = response.json()["send_seed"]
    assert requests.post(url_options, json={"send_seed": (not pre_value)}, timeout=30).status_code == 200
    response = requests.get(url_options, timeout=30)
    assert response.status_code == 200 and response.json()["send_seed"] == (not pre_value)
    requests.post(url_options, json={"send_seed": pre_value}, timeout=30)


@pytest.mark.parametrize("url", ["sdapi/v1/cmd-flags", "sdapi/v1/samplers", "sdapi/v1/upscalers", "sdapi/v1/sd-models",
                                 "sdapi/v1/hypernetworks", "sdapi/v1/face-restorers", "sdapi/v1/realesrgan-models",
                                 "sdapi/v1/prompt-styles", "sdapi/v1/embeddings"])
def test_get_api_url(base_url, url):
    assert requests.get(f"{base_url}/{url}", timeout=30).status_code == 200
