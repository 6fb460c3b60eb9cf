"""The API on a server whose jobs run on two Ray workers (issue 15): two users' jobs at once, each user's own pictures
(the same as without Ray), the workers and the queue as an admin and a user see them."""
import json
import threading
import time

import numpy as np
import pytest
import requests

from pipelines import Job
from tests.api.test_api import b64, decode
from tests.helpers import noise_image
from tests.server import app_server

USERS = {"ann": "pw1", "bob": "pw2"}
SEEDS = {"ann": (11, 12, 13), "bob": (21, 22, 23)}
PARAMS = dict(prompt="a lighthouse", negative_prompt="", sampler_name="Euler", steps=8, cfg_scale=7,
              denoising_strength=0.6, width=128, height=128)


@pytest.fixture(scope="module")
def ray_api(ray_address, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray-api")
    flags = ["--api", "--api-auth", ",".join(f"{n}:{p}" for n, p in USERS.items()), "--admins", "ann",
             "--ray", ray_address, "--ray-workers", "2"]
    with app_server(str(tmp), *flags, timeout=240) as (url, _):
        yield url + "/sdapi/v1", tmp


def get(api, route, user):
    answer = requests.get(f"{api[0]}/{route}", auth=(user, USERS[user]), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_two_users_jobs_run_on_two_workers_at_once_each_user_gets_their_own(ray_api, services):
    source = noise_image(128, 128, seed=4)
    answers, seen = {}, {"running": 0, "workers": set(), "bob saw": set()}
    done = threading.Event()

    def submit(user, seed):
        body = dict(PARAMS, init_images=[b64(source)], seed=seed, save_images=True)
        answer = requests.post(f"{ray_api[0]}/img2img", json=body, auth=(user, USERS[user]), timeout=300)
        answers[(user, seed)] = answer

    def watch():  # the queue as the admin and as bob see it, while the jobs run
        while not done.is_set():
            running = [j for j in get(ray_api, "queue", "ann") if j["running"]]
            seen["running"] = max(seen["running"], len(running))
            seen["workers"] |= {j["worker"] for j in running}
            seen["bob saw"] |= {j["owner"] for j in get(ray_api, "queue", "bob")}
            time.sleep(0.05)

    threads = [threading.Thread(target=submit, args=(u, s)) for u in USERS for s in SEEDS[u]]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    done.set()
    watcher.join(30)
    assert seen["running"] == 2 and seen["workers"] == {"ray-1", "ray-2"}
    assert seen["bob saw"] <= {"user:bob"}
    for (user, seed), answer in answers.items():
        assert answer.status_code == 200, answer.text
        info = json.loads(answer.json()["info"])
        assert info["seed"] == seed and len(answer.json()["images"]) == 1
        reference = services.queue.submit(Job(init_images=[source], seed=seed, **PARAMS), owner="ref")
        [event] = [e for e in reference if hasattr(e, "images")]
        assert info["infotexts"] == event.infotexts
        assert np.array_equal(np.asarray(decode(answer.json()["images"][0]).convert("RGB")),
                              np.asarray(event.images[0]))
    saved = sorted((ray_api[1] / "outputs" / "img2img-images").rglob("*.png"))
    assert len(saved) == 6 and sorted(int(p.stem.split("-")[1]) for p in saved) == [11, 12, 13, 21, 22, 23]


def test_the_workers_as_an_admin_and_a_user_see_them(ray_api):
    states = get(ray_api, "workers", "ann")
    assert [s["name"] for s in states] == ["ray-1", "ray-2"]
    assert all(s["device"] == "cpu" and s["model"] == "builtin:tiny" and "pid" in s["where"] for s in states)
    assert [s["name"] for s in get(ray_api, "workers", "bob")] == ["ray-1", "ray-2"]
