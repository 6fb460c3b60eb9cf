"""Sharing on a LAN (issue 13's regressions): who a caller is, what a URL may reach, how much a request may cost."""
import threading
import time

import pytest
import requests

from tests.api.test_api import SMALL, b64, post
from tests.helpers import noise_image
from tests.server import app_server


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lan-api")
    with app_server(str(tmp), "--api", "--max-body-mb", "8") as (url, log):
        yield url + "/sdapi/v1", tmp, int(open(log.replace(".log", ".pid")).read())


def server_rss_mb(api) -> float:
    with open(f"/proc/{api[2]}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_a_forwarded_header_does_not_change_who_the_caller_is(api):
    """Without --forwarded-allow-ips, X-Forwarded-For is ignored: a job sent under a spoofed address is the sender's
    own (and a victim's address cannot be borrowed to watch or stop their job)."""
    body = dict(SMALL, init_images=[b64(noise_image(256, 256))], width=256, height=256, steps=150,
                denoising_strength=1.0)
    done = {}
    sender = threading.Thread(target=lambda: done.update(r=requests.post(
        f"{api[0]}/img2img", json=body, headers={"X-Forwarded-For": "10.9.9.9"}, timeout=300)))
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = requests.get(f"{api[0]}/progress", timeout=10).json()["state"]
            if state["sampling_steps"]:
                break
            time.sleep(0.2)
        assert state["sampling_steps"], "the spoofed job should be the loopback caller's own"
    finally:
        requests.post(f"{api[0]}/interrupt", timeout=10)
        sender.join(120)
    assert done["r"].status_code == 200


@pytest.fixture()
def listener():
    """A local HTTP listener that counts the connections it gets (none must come)."""
    import socket as socket_module
    server = socket_module.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    hits, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            hits.append(connection.recv(1024))
            connection.close()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join(5)
    server.close()


def test_no_url_spelling_reaches_the_server_itself(api, listener):
    port, hits = listener
    post(api, "options", {"api_enable_requests": True})
    try:
        for url in [f"http://127.0.0.1:{port}/x.png", f"http://localhost:{port}/x.png", f"http://127.1:{port}/x.png",
                    f"http://2130706433:{port}/x.png", f"http://0x7f000001:{port}/x.png",
                    f"http://0177.0.0.1:{port}/x.png", f"http://0.0.0.0:{port}/x.png",
                    f"http://[::ffff:127.0.0.1]:{port}/x.png", f"http://[::1]:{port}/x.png",
                    f"http://127.0.0.1:{port}\\@1.1.1.1/x.png", f"http://user@127.0.0.1:{port}/x.png",
                    f"http://127.0.0.1:{port}#@1.1.1.1/x.png", f"http://127.0.0.1:{port} @1.1.1.1/x.png"]:
            error = post(api, "img2img", dict(SMALL, init_images=[url]), 422)
            assert "init_images[0]" in error["detail"], (url, error)
        assert hits == []
    finally:
        post(api, "options", {"api_enable_requests": False})


def test_an_allowed_url_is_fetched_from_the_address_that_was_checked(monkeypatch):
    """The name is resolved once and the connection goes to that address, with the URL's Host: a second answer
    from DNS (rebinding) cannot send it elsewhere. (The resolver and the connection are stubbed: nothing leaves.)"""
    from api import fetch
    answers = iter([[(2, 1, 6, "", ("93.184.216.34", 80))], [(2, 1, 6, "", ("127.0.0.1", 80))]])
    monkeypatch.setattr(fetch.socket, "getaddrinfo", lambda *a, **k: next(answers))
    seen = {}

    def download(target, address, what):
        seen.update(address=address, host=target.host, path=target.path)
        return b"bytes"
    monkeypatch.setattr(fetch, "download", download)
    assert fetch.fetch_url("http://images.invalid/a/b.png?x=1", "init_images[0]", True) == b"bytes"
    assert seen == {"address": "93.184.216.34", "host": "images.invalid", "path": "/a/b.png?x=1"}


def big_png(width, height):
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, format="PNG")
    return b64_bytes(buffer.getvalue())


def b64_bytes(data):
    import base64
    return base64.b64encode(data).decode()


def test_huge_pictures_are_refused_before_they_are_decoded(api):
    picture = big_png(6000, 6000)  # 36 megapixels, a small file
    before = server_rss_mb(api)
    error = post(api, "img2img", dict(SMALL, init_images=[picture] * 4, batch_size=4), 422)
    assert "init_images[1] (6000x6000) would pass the 67108864 pixels one request may carry" in error["detail"]
    assert server_rss_mb(api) - before < 400  # one picture decoded, not four
    error = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))] * 65), 422)
    assert "init_images" in error["detail"] and "64" in error["detail"]


def test_request_bodies_past_the_cap_are_refused(api):
    response = requests.post(f"{api[0]}/img2img", data=b"{" + b" " * (9 * 1024 * 1024) + b"}",
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413 and "limit of 8 MB" in response.json()["detail"]
    assert len(post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))]))["images"]) == 1


@pytest.mark.parametrize("body, words", [
    ({"seed": 2 ** 70}, "seed: Input should be less than or equal to 4294967295"),
    ({"subseed": -5}, "subseed: Input should be greater than or equal to -1"),
    ({"prompt": "x" * 20001}, "prompt: String should have at most 20000 characters"),
    ({"n_iter": 100, "batch_size": 64}, "n_iter x batch_size is 6400: a job makes at most 1000 pictures"),
    ({"seed_resize_from_w": 1000000}, "seed_resize_from_w: Input should be less than or equal to 2048"),
    ({"override_settings": {"sd_model_checkpoint": {"a": 1}}}, "sd_model_checkpoint"),
])
def test_out_of_bounds_values_are_a_422_naming_the_field(api, body, words):
    error = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], **body), 422)
    assert words in error["detail"]


def test_a_prompt_of_nested_brackets_is_plain_text(api):
    result = post(api, "img2img", dict(SMALL, init_images=[b64(noise_image(64, 64))], prompt="[" * 5000))
    assert len(result["images"]) == 1


@pytest.fixture(scope="module")
def roomy_api(tmp_path_factory):
    """A server whose one loopback user may queue many jobs (as many users together would)."""
    tmp = tmp_path_factory.mktemp("lan-api-roomy")
    with app_server(str(tmp), "--api", "--max-queued-per-user", "60") as (url, log):
        yield url + "/sdapi/v1", tmp, int(open(log.replace(".log", ".pid")).read())


LONG = dict(SMALL, width=256, height=256, steps=150, denoising_strength=1.0)


def test_progress_and_interrupt_answer_at_once_behind_45_waiting_requests(roomy_api):
    url = roomy_api[0]
    body = dict(LONG, init_images=[b64(noise_image(64, 64))])
    answers = []
    senders = [threading.Thread(target=lambda: answers.append(requests.post(f"{url}/img2img", json=body,
                                                                            timeout=600).status_code))
               for _ in range(46)]
    for sender in senders:
        sender.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = requests.get(f"{url}/progress", timeout=10).json()
            if state["state"]["sampling_steps"] and "45 ahead" in (state["textinfo"] or "") or \
                    len([1 for s in senders if s.is_alive()]) == 46 and state["state"]["sampling_steps"]:
                break
            time.sleep(0.2)
        timings = []
        for route, method in (("progress", requests.get), ("options", requests.get), ("progress", requests.get)):
            start = time.monotonic()
            assert method(f"{url}/{route}", timeout=10).status_code == 200
            timings.append(time.monotonic() - start)
        start = time.monotonic()
        assert requests.post(f"{url}/interrupt", timeout=10).status_code == 200
        timings.append(time.monotonic() - start)
        assert max(timings) < 1.0, timings
    finally:
        requests.post(f"{url}/interrupt", timeout=10)
        for sender in senders:
            sender.join(300)
    assert len(answers) == 46 and set(answers) <= {200}


def test_a_caller_who_goes_away_stops_its_job(roomy_api):
    import socket as socket_module
    import json as json_module
    url = roomy_api[0]
    body = json_module.dumps(dict(LONG, width=512, height=512, init_images=[b64(noise_image(64, 64))])).encode()
    host, port = url.split("//")[1].split("/")[0].split(":")
    client = socket_module.create_connection((host, int(port)))
    client.sendall(b"POST /sdapi/v1/img2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not requests.get(f"{url}/progress", timeout=10).json()["state"][
            "sampling_steps"]:
        time.sleep(0.2)
    client.close()  # the caller is gone: its 150 steps at 512 x 512 (minutes here) stop within seconds
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and requests.get(f"{url}/progress", timeout=10).json()["state"]["job_count"]:
        time.sleep(0.2)
    state = requests.get(f"{url}/progress", timeout=10).json()["state"]
    assert state["job_count"] == 0, state


@pytest.fixture(scope="module")
def logins(tmp_path_factory):
    """A server with API logins only (no --gradio-auth), ann an admin and bob not."""
    tmp = tmp_path_factory.mktemp("lan-logins")
    with app_server(str(tmp), "--api", "--api-auth", "ann:pw1,bob:pw2", "--admins", "ann") as (url, _):
        yield url


def test_api_logins_guard_the_page_the_docs_and_the_gradio_api_too(logins):
    for path in ("/docs", "/openapi.json", "/sdapi/v1/options"):
        assert requests.get(logins + path, timeout=10).status_code == 401, path
        assert requests.get(logins + path, auth=("bob", "pw2"), timeout=10).status_code == 200, path
    page = requests.get(logins + "/", timeout=10)  # the login page, not the app
    assert page.status_code == 200 and "Log in to the img2img server" in page.text
    gradio_call = requests.post(f"{logins}/gradio_api/call/img2img", json={"data": []}, timeout=10)
    assert gradio_call.status_code in (401, 403)
    assert requests.get(logins + "/health", timeout=10).json() == {"status": "ok"}


def test_server_wide_settings_are_for_admins(logins):
    url = logins + "/sdapi/v1/options"
    answer = requests.post(url, json={"api_enable_requests": True}, auth=("bob", "pw2"), timeout=10)
    assert answer.status_code == 403 and "only an admin may change api_enable_requests" in answer.json()["detail"]
    assert requests.post(url, json={"jpeg_quality": 90}, auth=("bob", "pw2"), timeout=10).status_code == 200
    assert requests.post(url, json={"api_enable_requests": True}, auth=("ann", "pw1"), timeout=10).status_code == 200
    assert requests.get(url, auth=("bob", "pw2"), timeout=10).json()["api_enable_requests"] is True


def test_a_requests_checkpoint_is_one_of_the_list_and_the_error_tells_nothing_of_the_disk(api):
    body = dict(SMALL, init_images=[b64(noise_image(64, 64))])
    answers = [post(api, "img2img", dict(body, override_settings={"sd_model_checkpoint": path}), 422)["detail"]
               for path in ("/etc/passwd", "/no/such/file.safetensors", "/tmp")]
    assert all("is not one of this server's checkpoints" in a for a in answers)
    assert len({a.split("'")[2] for a in answers}) == 1  # the same words whether the path exists or not


def test_an_admin_sees_the_whole_queue_and_stops_anyones_job(logins):
    url = logins + "/sdapi/v1"
    body = dict(LONG, init_images=[b64(noise_image(64, 64))])
    answer = {}
    sender = threading.Thread(target=lambda: answer.update(r=requests.post(f"{url}/img2img", json=body,
                                                                           auth=("bob", "pw2"), timeout=300)))
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not requests.get(f"{url}/queue", auth=("ann", "pw1"), timeout=10).json():
            time.sleep(0.2)

        def rows(user, password):  # who and where, not the step, which moves between two requests
            return [(j["owner"], j["running"], j["position"], j["worker"])
                    for j in requests.get(f"{url}/queue", auth=(user, password), timeout=10).json()]
        everyone = rows("ann", "pw1")
        assert everyone == [("user:bob", True, 0, "local")]
        assert rows("bob", "pw2") == everyone  # his own
        refused = requests.post(f"{url}/interrupt", params={"owner": "user:ann"}, auth=("bob", "pw2"), timeout=10)
        assert refused.status_code == 403
        assert requests.post(f"{url}/interrupt", params={"owner": "user:bob"}, auth=("ann", "pw1"),
                             timeout=10).status_code == 200
    finally:
        sender.join(120)
    assert answer["r"].status_code == 200  # stopped early, with what it had
    assert requests.get(f"{url}/queue", auth=("ann", "pw1"), timeout=10).json() == []
