"""A soak test (issue 13): 8 users x 25 mixed requests over loopback at once, through the API and the page. Every answer
is right, nothing is lost, and the server's memory after all of them is within 150 MB of where it was after the
first 25."""
import base64
import io
import threading

import requests
from PIL import Image

from tests.api.test_api import b64
from tests.api.test_lan_users import login, page_img2img
from tests.helpers import noise_image, rect_mask
from tests.server import app_server

CLIENTS, REQUESTS = 8, 25
GENERATION = {"steps": 2, "width": 64, "height": 64}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


class Client:
    """One user: their API calls and page calls, each checked; what they made, counted."""

    def __init__(self, url, name, password, source):
        self.url, self.auth, self.source = url, (name, password), source
        self.page = login(url, name, password)
        self.made, self.seen = [], []

    def call(self, route, body=None):
        method = requests.get if body is None else requests.post
        answer = method(f"{self.url}/sdapi/v1/{route}", json=body, auth=self.auth, timeout=300)
        assert answer.status_code == 200, (route, answer.status_code, answer.text[:300])
        return answer.json()

    def picture(self, answer, seed):
        assert len(answer["images"]) == 1 and f"Seed: {seed}," in answer["info"]
        picture = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
        assert picture.size == (64, 64)
        self.made.append(answer["images"][0])

    def request(self, number: int) -> None:
        seed = 1000 * len(self.auth[0]) + number
        kind = number % 6
        if kind == 0:
            self.picture(self.call("img2img", dict(GENERATION, seed=seed, init_images=[b64(noise_image(64, 64))])),
                         seed)
        elif kind == 1:
            assert 0 <= self.call("progress")["progress"] <= 1
        elif kind == 2:
            self.picture(self.call("txt2img", dict(GENERATION, seed=seed, prompt=f"a cat {seed}")), seed)
        elif kind == 3:
            info = self.call("png-info", {"image": self.made[-1]})["info"]
            assert "Steps: 2," in info
        elif kind == 4:
            mask = b64(rect_mask(64, 64, (16, 16, 48, 48)))
            body = dict(GENERATION, seed=seed, init_images=[b64(noise_image(64, 64))], mask=mask)
            self.picture(self.call("img2img", body), seed)
        else:
            path = page_img2img(self.url, self.page, self.source)["picture"]
            assert self.page.get(f"{self.url}/gradio_api/file={path}", timeout=30).status_code == 200
            self.made.append(path)


def test_eight_users_times_25_mixed_requests_lose_nothing_and_memory_settles(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lan-soak")
    (tmp / "users.txt").write_text("".join(f"user {'u' * (i + 1)}:pw{i}\n" for i in range(CLIENTS)))
    source = tmp / "source.png"
    noise_image(64, 64).save(source)
    with app_server(str(tmp), "--api", "--users-file", str(tmp / "users.txt")) as (url, log):
        pid = int(open(log.replace(".log", ".pid")).read())
        clients = [Client(url, "u" * (i + 1), f"pw{i}", source) for i in range(CLIENTS)]
        for number in range(6):  # every kind of request once, before anything is measured
            clients[0].request(number)
        done, failures, lock, marks = [0], [], threading.Lock(), {}

        def run(client):
            for number in range(REQUESTS):
                try:
                    client.request(number)
                except Exception as e:  # noqa: BLE001 - collected and reported below, with the client's name
                    failures.append(f"{client.auth[0]} request {number}: {e!r}")
                with lock:
                    done[0] += 1
                    if done[0] == REQUESTS:
                        marks["after_first"] = rss_mb(pid)
        threads = [threading.Thread(target=run, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(900)
        assert not failures, failures[:5]
        assert done[0] == CLIENTS * REQUESTS
        pictures = sum(1 for number in range(REQUESTS) if number % 6 in (0, 2, 4, 5))
        assert [len(c.made) for c in clients] == [pictures + (4 if c is clients[0] else 0) for c in clients]
        grown = rss_mb(pid) - marks["after_first"]
        print(f"server RSS after the first {REQUESTS}: {marks['after_first']:.0f} MB, after all: {rss_mb(pid):.0f} MB")
        assert grown < 150, f"the server grew by {grown:.0f} MB over {CLIENTS * REQUESTS - REQUESTS} requests"
        assert requests.get(f"{url}/sdapi/v1/queue", auth=clients[0].auth, timeout=10).json() == []
