"""Sharing on a LAN with a users file (issue 13): roles, the page's routes behind the login, sessions and outputs that
belong to one user."""
import json
import threading
import time

import pytest
import requests

from tests.api.test_api import SMALL, b64
from tests.helpers import noise_image
from tests.server import app_server

USERS = "# who may log in\nadmin ann:pw1\nuser bob:pw2\ncid:pw:3\n"


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lan-users")
    (tmp / "users.txt").write_text(USERS)
    with app_server(str(tmp), "--api", "--users-file", str(tmp / "users.txt")) as (url, _):
        yield url, tmp


def login(url, name, password) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{url}/login", data={"username": name, "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    return session


def page_img2img(url, session, source, session_hash=None) -> dict:
    """The page's img2img over raw HTTP, as a logged-in browser sends it: upload, call, read the event stream.
    -> the first picture's file data."""
    uploaded = session.post(f"{url}/gradio_api/upload", files={"files": open(source, "rb")}, timeout=30).json()
    info = session.get(f"{url}/gradio_api/info", timeout=30).json()["named_endpoints"]["/img2img"]
    values = {"init_img": {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}}, "steps": 2, "width": 64,
              "height": 64}
    data = [values.get(p["parameter_name"], p["parameter_default"] if p["parameter_has_default"] else None)
            for p in info["parameters"]]
    body = {"data": data} if session_hash is None else {"data": data, "session_hash": session_hash}
    event = session.post(f"{url}/gradio_api/call/img2img", json=body, timeout=30).json()["event_id"]
    stream = session.get(f"{url}/gradio_api/call/img2img/{event}", timeout=120).text
    assert "event: complete" in stream, stream
    last = [line for line in stream.splitlines() if line.startswith("data:")][-1]
    return {"picture": json.loads(last[5:])[0][0]["image"]["path"], "upload": uploaded[0]}


def test_a_users_file_gives_logins_to_the_page_and_the_api_and_roles(users):
    url = users[0] + "/sdapi/v1"
    assert requests.get(f"{url}/options", auth=("cid", "pw:3"), timeout=10).status_code == 200  # colon in a password
    assert requests.get(f"{url}/options", auth=("bob", "wrong"), timeout=10).status_code == 401
    refused = requests.post(f"{url}/options", json={"api_enable_requests": True}, auth=("bob", "pw2"), timeout=10)
    assert refused.status_code == 403
    assert requests.post(f"{url}/options", json={"api_enable_requests": False}, auth=("ann", "pw1"),
                         timeout=10).status_code == 200
    assert "/img2img" in login(users[0], "bob", "pw2").get(users[0] + "/gradio_api/info", timeout=10).text


def test_without_a_login_the_page_answers_only_its_login_form(users):
    url = users[0]
    page = requests.get(url + "/", timeout=10).text
    assert "Log in to the img2img server" in page
    assert "/img2img" not in page and "denoising_strength" not in page  # no API schema for strangers
    assert "denoising_strength" in login(url, "bob", "pw2").get(url + "/", timeout=10).text
    for method, path in (("post", "/gradio_api/cancel"), ("get", "/gradio_api/heartbeat/abc"),
                         ("post", "/gradio_api/upload"), ("get", "/gradio_api/startup-events"),
                         ("post", "/gradio_api/reset"), ("get", "/gradio_api/file=/etc/hostname"),
                         ("get", "/config"), ("get", "/gradio_api/info")):
        answer = getattr(requests, method)(url + path, json={"session_hash": "x", "fn_index": 0, "event_id": "y"},
                                           timeout=10)
        assert answer.status_code == 401, (path, answer.status_code)


def test_outputs_and_uploads_are_served_only_to_their_owner_and_admins(users, tmp_path):
    url = users[0]
    source = tmp_path / "source.png"
    noise_image(64, 64).save(source)
    bob, cid, ann = login(url, "bob", "pw2"), login(url, "cid", "pw:3"), login(url, "ann", "pw1")
    made = page_img2img(url, bob, source)
    for path in made.values():
        assert bob.get(f"{url}/gradio_api/file={path}", timeout=10).status_code == 200
        assert cid.get(f"{url}/gradio_api/file={path}", timeout=10).status_code == 404  # as if it did not exist
        assert ann.get(f"{url}/gradio_api/file={path}", timeout=10).status_code == 200  # an admin
        assert requests.get(f"{url}/gradio_api/file={path}", timeout=10).status_code == 401
    assert bob.get(f"{url}/gradio_api/file=http://127.0.0.1:1/x.png", timeout=10).status_code == 403


def test_a_session_hash_cannot_be_borrowed_by_another_user(users, tmp_path):
    url = users[0]
    source = tmp_path / "source.png"
    noise_image(64, 64).save(source)
    bob, cid = login(url, "bob", "pw2"), login(url, "cid", "pw:3")
    page_img2img(url, bob, source, session_hash="bobs-tab")
    stolen = cid.get(f"{url}/gradio_api/queue/data", params={"session_hash": "bobs-tab"}, timeout=10)
    assert stolen.status_code == 403 and "another user" in stolen.json()["detail"]
    cancel = cid.post(f"{url}/gradio_api/cancel", json={"session_hash": "bobs-tab", "fn_index": 0, "event_id": "e"},
                      timeout=10)
    assert cancel.status_code == 403
    assert cid.get(f"{url}/gradio_api/heartbeat/bobs-tab", timeout=10).status_code == 403
    page_img2img(url, bob, source, session_hash="bobs-tab")  # still his


def test_anonymous_browsers_are_users_of_their_own(tmp_path_factory, tmp_path):
    """Without logins each browser gets a cookie that makes it its own user: a session hash it used is not another
    browser's (nor a cookie-less client's) to read or cancel."""
    with app_server(str(tmp_path_factory.mktemp("lan-anonymous"))) as (url, _):
        victim, thief = requests.Session(), requests.Session()
        victim.get(url + "/", timeout=10)
        thief.get(url + "/", timeout=10)
        assert victim.cookies.get("img2img-browser") != thief.cookies.get("img2img-browser")
        source = tmp_path / "source.png"
        noise_image(64, 64).save(source)
        page_img2img(url, victim, source, session_hash="victims-tab")
        for client in (thief, requests):
            answer = client.get(f"{url}/gradio_api/queue/data", params={"session_hash": "victims-tab"}, timeout=10)
            assert answer.status_code == 403


def test_a_users_page_and_api_jobs_are_one_users_and_an_admin_stops_them(users):
    url = users[0] + "/sdapi/v1"
    body = dict(SMALL, width=256, height=256, steps=150, denoising_strength=1.0,
                init_images=[b64(noise_image(64, 64))])
    answer = {}
    sender = threading.Thread(target=lambda: answer.update(r=requests.post(f"{url}/img2img", json=body,
                                                                           auth=("bob", "pw2"), timeout=300)))
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not requests.get(f"{url}/queue", auth=("ann", "pw1"), timeout=10).json():
            time.sleep(0.2)
        assert [j["owner"] for j in requests.get(f"{url}/queue", auth=("ann", "pw1"), timeout=10).json()] == \
            ["user:bob"]  # the same name as on the page
        assert requests.get(f"{url}/queue", auth=("cid", "pw:3"), timeout=10).json() == []
        assert requests.post(f"{url}/interrupt", params={"owner": "user:bob"}, auth=("ann", "pw1"),
                             timeout=10).status_code == 200
    finally:
        sender.join(120)
    assert answer["r"].status_code == 200


def test_another_users_upload_cannot_be_named_as_an_input(users, tmp_path):
    url = users[0]
    source = tmp_path / "source.png"
    noise_image(64, 64).save(source)
    bob, cid = login(url, "bob", "pw2"), login(url, "cid", "pw:3")
    bobs = page_img2img(url, bob, source)
    info = cid.get(f"{url}/gradio_api/info", timeout=30).json()["named_endpoints"]["/img2img"]
    data = [{"path": bobs["upload"], "meta": {"_type": "gradio.FileData"}} if p["parameter_name"] == "init_img" else
            p["parameter_default"] if p["parameter_has_default"] else None for p in info["parameters"]]
    answer = cid.post(f"{url}/gradio_api/call/img2img", json={"data": data}, timeout=30)
    assert answer.status_code == 403 and "not one of yours" in answer.json()["detail"]
