"""The A1111 API over real HTTP, against app.py started on 127.0.0.1 with the built-in model."""
import base64
import io
import json
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from pipelines import imageops
from pipelines.infotext import parse_generation_parameters
from tests.helpers import noise_image, pixels, rect_mask
from tests.server import app_server

SMALL = {"steps": 4, "width": 64, "height": 64, "seed": 5}


def b64(image, prefix=False):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    text = base64.b64encode(buffer.getvalue()).decode()
    return "data:image/png;base64," + text if prefix else text


def decode(text):
    return Image.open(io.BytesIO(base64.b64decode(text)))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    with app_server(str(tmp), "--api") as (url, _):
        yield url + "/sdapi/v1", tmp


def post(api, route, body, status=200):
    response = requests.post(f"{api[0]}/{route}", json=body, timeout=120)
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize("prefix", [False, True])
def test_img2img_with_and_without_a_data_prefix(api, prefix):
    result = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(96, 64), prefix)], prompt="a cat",
                                       denoising_strength=0.6, seed=1234))
    assert len(result["images"]) == 1
    image = decode(result["images"][0])
    assert image.size == (64, 64)
    info = json.loads(result["info"])
    assert info["seed"] == 1234 and info["all_seeds"] == [1234] and info["denoising_strength"] == 0.6
    params = parse_generation_parameters(info["infotexts"][0])
    assert params["Seed"] == "1234" and params["Denoising strength"] == "0.6" and params["Sampler"] == "Euler"
    assert parse_generation_parameters(image.info["parameters"])["Seed"] == "1234"  # infotext in the PNG too
    assert result["parameters"]["init_images"] is None and result["parameters"]["prompt"] == "a cat"


def test_api_defaults_are_a1111s(api):
    info = json.loads(post(api, "img2img", {"init_images": [b64(noise_image(64, 64))], "width": 64,
                                            "height": 64})["info"])
    assert info["steps"] == 50 and info["sampler_name"] == "Euler" and info["cfg_scale"] == 7.0


def whole_picture_inpaint(api, source, mask, **extra):
    body = dict(SMALL, init_images=[b64(source)], mask=b64(mask), inpaint_full_res=False, width=128, height=128,
                denoising_strength=0.9, steps=6)
    body.update(extra)
    return decode(post(api, "img2img", body)["images"][0])


@pytest.mark.parametrize("fill", [0, 1, 2, 3])
def test_inpaint_with_a_mask_and_every_masked_content(api, fill):
    source, mask = noise_image(128, 128), rect_mask(128, 128, (32, 32, 96, 96))
    out = whole_picture_inpaint(api, source, mask, inpainting_fill=fill)
    assert out.size == (128, 128)
    keep = np.asarray(imageops.double_mask(imageops.blur_mask(mask, 4, 4))) == 0
    assert np.array_equal(pixels(out)[keep], pixels(source)[keep])
    assert (pixels(out)[48:80, 48:80] != pixels(source)[48:80, 48:80]).any()
    masked_content = parse_generation_parameters(out.info["parameters"])["Masked content"]
    assert masked_content == ["fill", "original", "latent noise", "latent nothing"][fill]


def test_inverted_mask_keeps_the_masked_area(api):
    source, mask = noise_image(128, 128), rect_mask(128, 128, (32, 32, 96, 96))
    out = whole_picture_inpaint(api, source, mask, inpainting_mask_invert=1, mask_blur=0)
    assert np.array_equal(pixels(out)[32:96, 32:96], pixels(source)[32:96, 32:96])
    assert (pixels(out)[:16] != pixels(source)[:16]).any()


def test_only_masked_is_the_api_default_and_returns_the_original_size(api):
    source = noise_image(256, 192)
    mask = rect_mask(256, 192, (100, 80, 140, 120))
    result = post(api, "img2img", dict(SMALL, init_images=[b64(source)], mask=b64(mask)))
    out = decode(result["images"][0])
    assert out.size == (256, 192)
    far = np.asarray(imageops.blur_mask(mask, 4, 4)) == 0
    assert np.array_equal(pixels(out)[far], pixels(source)[far])
    assert "Inpaint area: Only masked" in json.loads(result["info"])["infotexts"][0]


def test_batch_count_and_size_give_a_grid_then_every_picture(api):
    result = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], n_iter=2, batch_size=2))
    images = [decode(i) for i in result["images"]]
    assert [i.size for i in images] == [(128, 128)] + [(64, 64)] * 4
    info = json.loads(result["info"])
    assert info["all_seeds"] == [5, 6, 7, 8] and info["index_of_first_image"] == 1
    assert [parse_generation_parameters(t)["Seed"] for t in info["infotexts"][1:]] == ["5", "6", "7", "8"]


def test_masks_pair_one_mask_with_each_init_image(api):
    sources = [noise_image(128, 128, 1), noise_image(128, 128, 2)]
    boxes = [(0, 0, 64, 128), (64, 0, 128, 128)]
    result = post(api, "img2img", dict(SMALL, width=128, height=128, init_images=[b64(s) for s in sources],
                                       masks=[b64(rect_mask(128, 128, b)) for b in boxes], inpaint_full_res=False,
                                       mask_blur=0))
    outs = [pixels(decode(i)) for i in result["images"]]
    assert len(outs) == 2
    first, second = pixels(sources[0]), pixels(sources[1])
    assert np.array_equal(outs[0][:, 72:], first[:, 72:]) and (outs[0][:, :56] != first[:, :56]).any()
    assert np.array_equal(outs[1][:, :56], second[:, :56]) and (outs[1][:, 72:] != second[:, 72:]).any()
    assert json.loads(result["info"])["all_seeds"] == [5, 6]
    bad = post(api, "img2img", dict(SMALL, init_images=[b64(sources[0])], masks=[b64(sources[0])] * 2), 422)
    assert "one mask per init image" in bad["detail"]


def test_txt2img_is_served_by_the_same_core(api):
    result = post(api, "txt2img", dict(SMALL, width=96))
    assert decode(result["images"][0]).size == (96, 64)
    assert "Denoising strength" not in json.loads(result["info"])["infotexts"][0]


@pytest.mark.parametrize("body, status, words", [
    ({"init_images": ["%%%not base64%%%"]}, 422, "init_images[0] is not"),
    ({"init_images": [base64.b64encode(b"just some text\n").decode()]}, 422, "init_images[0] is not a readable image"),
    ({"mask": base64.b64encode(b"not a picture").decode()}, 422, "mask is not a readable image"),
    ({"sampler_name": "Euler z"}, 422, "unknown sampler 'Euler z'; known samplers:"),
    ({"steps": -1}, 422, "steps: Input should be greater than or equal to 1"),
    ({"steps": "many"}, 422, "steps: Input should be a valid integer"),
    ({"init_images": []}, 404, "Init image not found"),
    ({"init_images": ["https://example.com/cat.png"]}, 422, "URLs are refused"),
    ({"script_name": "Loopbacks"}, 422, "script 'Loopbacks' not found; scripts: Prompt matrix,"),
    ({"script_name": "sd upscale", "script_args": ["", "lots"]}, 422, "overlap (Tile overlap) must be an integer"),
    ({"script_name": "loopback", "script_args": [2, 0.5, "Linear", "CLIP"]}, 422, "interrogation (CLIP) is not"),
    ({"alwayson_scripts": {"ControlNet": {"args": []}}}, 422, "'ControlNet' is not an always-on script"),
    ({"alwayson_scripts": {"Loopback": {"args": []}}}, 422, "'Loopback' is a selectable script"),
])
def test_bad_input_is_a_4xx_naming_the_problem_and_the_server_goes_on(api, body, status, words):
    request = dict(SMALL, init_images=[b64(noise_image(64, 64))])
    request.update(body)
    error = post(api, "img2img", request, status)
    assert set(error) == {"error", "detail", "body", "errors"}
    assert words in error["detail"]
    assert len(post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))]))["images"]) == 1


def test_a_url_to_a_private_address_is_refused_even_when_urls_are_allowed(api):
    post(api, "options", {"api_enable_requests": True})
    try:
        error = post(api, "img2img", dict(SMALL, init_images=["http://127.0.0.1:1/x.png"]), 422)
        assert "private address" in error["detail"]
    finally:
        post(api, "options", {"api_enable_requests": False})


def test_png_info_reads_back_the_parameters(api):
    result = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], seed=99, prompt="a, b"))
    info = post(api, "png-info", {"image": result["images"][0]})
    assert info["parameters"]["Seed"] == "99" and info["parameters"]["Prompt"] == "a, b"
    assert info["info"].startswith("a, b\nSteps: 4")


def test_information_routes_have_a1111s_shapes(api):
    url = api[0]

    def get(route):
        return requests.get(f"{url}/{route}", timeout=30).json()
    assert {"name", "aliases", "options"} <= set(get("samplers")[0]) and get("samplers")[0]["name"] == "DPM++ 2M"
    assert {"name", "label"} <= set(get("schedulers")[0])
    samplers = {s["name"]: s for s in get("samplers")}
    assert {"DPM++ 2S a", "DPM fast", "DPM adaptive", "Restart", "DDIM CFG++", "LCM"} <= set(samplers)
    assert samplers["DPM2 a"]["options"] == {"scheduler": "karras", "second_order": True,
                                             "discard_next_to_last_sigma": True, "uses_ensd": True}
    schedulers = {s["label"]: s for s in get("schedulers")}
    assert {"Simple", "Normal", "Align Your Steps", "KL Optimal", "Polyexponential", "DDIM", "Beta"} <= set(schedulers)
    assert schedulers["Karras"]["default_rho"] == 7.0 and schedulers["SGM Uniform"]["aliases"] == ["SGMUniform"]
    models = get("sd-models")
    assert models[0]["title"] == "builtin:tiny" and len(models[0]["hash"]) == 10 and len(models[0]["sha256"]) == 64
    assert get("cmd-flags")["api"] is True
    assert get("memory")["ram"]["total"] > 0
    for route, empty in [("sd-vae", []), ("hypernetworks", []), ("loras", []), ("face-restorers", []),
                         ("realesrgan-models", []), ("prompt-styles", []),
                         ("embeddings", {"loaded": {}, "skipped": {}})]:
        assert get(route) == empty, route
    assert [u["name"] for u in get("upscalers")] == ["None", "Lanczos", "Nearest"]
    assert get("latent-upscale-modes") == [{"name": "Latent"}]
    for route in ("refresh-checkpoints", "refresh-vae", "unload-checkpoint", "reload-checkpoint"):
        assert requests.post(f"{url}/{route}", timeout=60).status_code == 200
    schema = requests.get(url.replace("/sdapi/v1", "/openapi.json"), timeout=10).json()
    assert "/sdapi/v1/img2img" in schema["paths"]
    fields = schema["components"]["schemas"]["Img2ImgRequest"]["properties"]  # the declared bounds, for clients
    assert (fields["steps"]["minimum"], fields["steps"]["maximum"], fields["steps"]["default"]) == (1, 1000, 50)
    assert (fields["resize_mode"]["minimum"], fields["resize_mode"]["maximum"]) == (0, 3)
    assert requests.get(url.replace("/sdapi/v1", "/docs"), timeout=10).status_code == 200


def test_progress_shows_the_running_job_with_a_preview_and_interrupt_stops_it(api):
    url = api[0]
    outcome = {}

    def generate():
        outcome["response"] = requests.post(f"{url}/img2img", json=dict(
            SMALL, init_images=[b64(noise_image(256, 256))], width=256, height=256, steps=150,
            denoising_strength=1.0), timeout=300)

    thread = threading.Thread(target=generate)
    thread.start()
    seen = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = requests.get(f"{url}/progress", timeout=10).json()
        if progress["state"]["sampling_step"] >= 4 and progress["current_image"]:
            seen = progress
            break
        time.sleep(0.2)
    assert seen, "no progress with a preview within 60 s"
    assert seen["state"]["sampling_steps"] == 150 and 0 < seen["progress"] < 1
    assert decode(seen["current_image"]).size[0] > 0
    assert requests.post(f"{url}/interrupt", timeout=10).json() == {}
    thread.join(120)
    response = outcome["response"]
    assert response.status_code == 200 and response.json()["images"] == []
    assert requests.get(f"{url}/progress", timeout=10).json()["state"]["sampling_step"] == 0


def test_options_change_what_get_returns_and_survive_a_restart(tmp_path):
    with app_server(str(tmp_path), "--nowebui") as (url, _):
        options = requests.get(url + "/sdapi/v1/options", timeout=10).json()
        assert options["img2img_color_correction"] is False and options["sd_model_checkpoint"] == "builtin:tiny"
        change = {"img2img_color_correction": True, "sd_model_checkpoint": "builtin:tiny-inpainting",
                  "some_extension_setting": 3}
        assert requests.post(url + "/sdapi/v1/options", json=change, timeout=60).status_code == 200
        options = requests.get(url + "/sdapi/v1/options", timeout=10).json()
        assert options["img2img_color_correction"] is True and options["some_extension_setting"] == 3
        bad = requests.post(url + "/sdapi/v1/options", json={"sd_model_checkpoint": "nope"}, timeout=10)
        assert bad.status_code == 400 and "nope" in bad.json()["detail"]
        bad = requests.post(url + "/sdapi/v1/options", json={"img2img_fix_steps": "maybe"}, timeout=10)
        assert bad.status_code == 422 and "img2img_fix_steps" in bad.json()["detail"]
    with app_server(str(tmp_path), "--nowebui") as (url, _):
        options = requests.get(url + "/sdapi/v1/options", timeout=10).json()
        assert options["img2img_color_correction"] is True
        assert options["sd_model_checkpoint"] == "builtin:tiny-inpainting"
        result = requests.post(url + "/sdapi/v1/img2img", json=dict(SMALL, init_images=[b64(noise_image(64, 64))]),
                               timeout=60).json()
        assert "Conditional mask weight" in json.loads(result["info"])["infotexts"][0]


def test_webuiapi_client_works_unmodified(api):
    import webuiapi
    host, port = api[0].split("//")[1].split("/")[0].split(":")
    client = webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler a", steps=4)
    source = noise_image(64, 64)
    result = client.img2img(images=[source], prompt="a cat", seed=31, width=64, height=64)
    assert result.image.size == (64, 64) and result.info["seed"] == 31
    mask = rect_mask(64, 64, (16, 16, 48, 48))
    result = client.img2img(images=[source], mask_image=mask, inpainting_fill=1, seed=32, width=64, height=64)
    assert result.image.size == (64, 64)
    assert result.info["infotexts"][0].count("Inpaint area: Only masked") == 1
    assert "Seed: 32," in client.png_info(result.image).info
    assert "Euler a" in [s["name"] for s in client.get_samplers()]
    assert client.get_sd_models()[0]["title"] == "builtin:tiny"
    client.set_options({"img2img_fix_steps": True})
    assert client.get_options()["img2img_fix_steps"] is True
    client.set_options({"img2img_fix_steps": False})
    assert client.get_progress()["state"]["job_count"] == 0
    assert client.interrupt() == {}


@pytest.fixture(scope="module")
def auth_api(tmp_path_factory):
    with app_server(str(tmp_path_factory.mktemp("auth")), "--nowebui", "--api-auth", "alice:a-secret,bob:b:secret") \
            as (url, _):
        yield url + "/sdapi/v1"


GET_ROUTES = ["options", "cmd-flags", "samplers", "schedulers", "upscalers", "latent-upscale-modes", "sd-models",
              "sd-vae", "hypernetworks", "loras", "embeddings", "face-restorers", "realesrgan-models",
              "prompt-styles", "scripts", "script-info", "memory", "progress"]
POST_ROUTES = ["img2img", "txt2img", "options", "png-info", "interrupt", "skip", "refresh-checkpoints",
               "refresh-vae", "unload-checkpoint", "reload-checkpoint"]


def test_api_auth_refuses_every_route_without_the_password(auth_api):
    for route in GET_ROUTES:
        assert requests.get(f"{auth_api}/{route}", timeout=10).status_code == 401, route
        assert requests.get(f"{auth_api}/{route}", auth=("alice", "wrong"), timeout=10).status_code == 401, route
    for route in POST_ROUTES:
        assert requests.post(f"{auth_api}/{route}", json={}, timeout=10).status_code == 401, route
    assert requests.get(f"{auth_api}/samplers", auth=("alice", "a-secret"), timeout=10).status_code == 200
    flags = requests.get(f"{auth_api}/cmd-flags", auth=("alice", "a-secret"), timeout=10).json()
    assert flags["api_auth"] == "<hidden>" and "secret" not in str(flags)  # no route shows a password
    result = requests.post(f"{auth_api}/img2img", auth=("bob", "b:secret"), timeout=60,
                           json=dict(SMALL, init_images=[b64(noise_image(64, 64))]))
    assert result.status_code == 200 and len(result.json()["images"]) == 1


def test_each_api_user_sees_and_interrupts_only_their_own_job(auth_api):
    alice, bob = ("alice", "a-secret"), ("bob", "b:secret")
    outcome = {}

    def generate():
        outcome["response"] = requests.post(f"{auth_api}/img2img", auth=bob, timeout=300, json=dict(
            SMALL, init_images=[b64(noise_image(128, 128))], width=128, height=128, steps=40, denoising_strength=1.0))

    thread = threading.Thread(target=generate)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if requests.get(f"{auth_api}/progress", auth=bob, timeout=10).json()["state"]["sampling_step"] > 0:
            break
        time.sleep(0.1)
    else:
        pytest.fail("bob's job never showed progress")
    assert requests.get(f"{auth_api}/progress", auth=alice, timeout=10).json()["state"]["sampling_step"] == 0
    requests.post(f"{auth_api}/interrupt", auth=alice, timeout=10)
    thread.join(300)
    assert len(outcome["response"].json()["images"]) == 1  # alice could not stop it


def test_styles_loras_embeddings_and_vaes(api):
    """The user's folders as A1111's routes list them, and used by a request (they are read when they change)."""
    from diffusers import StableDiffusionPipeline

    from pipelines.builtin_model import ensure_builtin
    from tests.helpers import write_embedding, write_lora, write_vae

    base, tmp = api
    (tmp / "styles.csv").write_text('name,prompt,negative_prompt\nFilm,"{prompt}, film grain",blurry\n')
    folder = ensure_builtin("tiny")
    write_lora(StableDiffusionPipeline.from_pretrained(str(folder)), tmp / "Lora" / "detail.safetensors")
    write_embedding(tmp / "embeddings" / "zzstyle.pt", vectors=2)
    write_embedding(tmp / "embeddings" / "sd15only.safetensors", dim=768)
    write_vae(folder, tmp / "VAE" / "soft.safetensors", noise=0.3)

    assert requests.get(f"{base}/prompt-styles", timeout=10).json() == [
        {"name": "Film", "prompt": "{prompt}, film grain", "negative_prompt": "blurry"}]
    loras = requests.get(f"{base}/loras", timeout=10).json()
    assert [(lora["name"], lora["alias"]) for lora in loras] == [("detail", "detail")]
    embeddings = requests.get(f"{base}/embeddings", timeout=10).json()
    assert embeddings["loaded"]["zzstyle"] == {"step": 100, "sd_checkpoint": None, "sd_checkpoint_name": None,
                                               "shape": 32, "vectors": 2}
    assert list(embeddings["skipped"]) == ["sd15only"]
    assert requests.get(f"{base}/sd-vae", timeout=10).json() == [
        {"model_name": "soft", "filename": str(tmp / "VAE" / "soft.safetensors")}]

    body = dict(SMALL, init_images=[b64(noise_image(64, 64))], prompt="a zzstyle cat <lora:detail:0.7>",
                styles=["Film"], override_settings={"sd_vae": "soft.safetensors"})
    info = json.loads(post(api, "img2img", body)["info"])
    params = parse_generation_parameters(info["infotexts"][0])
    assert params["Prompt"] == "a zzstyle cat <lora:detail:0.7>, film grain"
    assert params["Negative prompt"] == "blurry"
    assert params["Lora hashes"].startswith("detail: ") and params["TI hashes"].startswith("zzstyle: ")
    assert params["VAE"] == "soft.safetensors" and info["sd_vae_name"] == "soft.safetensors"
    assert info["styles"] == ["Film"]
    unknown = post(api, "img2img", dict(body, styles=["Nope"]), status=422)
    assert "Nope" in json.dumps(unknown) and "Film" in json.dumps(unknown)
    bad_vae = requests.post(f"{base}/options", json={"sd_vae": "missing.pt"}, timeout=10)
    assert bad_vae.status_code == 422 and "soft.safetensors" in bad_vae.text


def test_a_request_may_use_another_checkpoint(api):
    """`override_settings.sd_model_checkpoint` loads that model for the request and the server's model after it."""
    model = requests.get(f"{api[0]}/options", timeout=10).json()["sd_model_checkpoint"]
    body = dict(SMALL, init_images=[b64(noise_image(64, 64))], mask=b64(rect_mask(64, 64, (16, 16, 48, 48))),
                override_settings={"sd_model_checkpoint": "builtin:tiny-inpainting"})
    info = json.loads(post(api, "img2img", body)["info"])
    assert info["sd_model_name"] == "builtin-tiny-inpainting" and info["is_using_inpainting_conditioning"]
    assert requests.get(f"{api[0]}/options", timeout=10).json()["sd_model_checkpoint"] == model
    bad = post(api, "img2img", dict(body, override_settings={"sd_model_checkpoint": "nope.safetensors"}), 422)
    assert "sd_model_checkpoint" in json.dumps(bad)
