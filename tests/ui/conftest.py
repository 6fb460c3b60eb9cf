"""One app server and one Chromium for all the browser tests."""
import pytest

from tests.server import app_server
from tests.ui.browser import ARGS, CHROMIUM


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    (tmp / "styles.csv").write_text('name,prompt,negative_prompt\nFilm,"{prompt}, film grain",blurry\n')
    with app_server(str(tmp), "--batch-roots", f"{tmp}/inputs,{tmp}/outputs") as (url, _):
        yield url, tmp / "outputs"


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.goto(server[0] + "/")
    page.wait_for_selector("#generate_button", timeout=60000)
    yield page
    context.close()
