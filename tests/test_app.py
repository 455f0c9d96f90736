"""The web app: its handler, its API (gradio_client) and the page in a real browser."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

BUNDLED = ROOT / "mask2face" / "pretrained" / "lfw128"
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = pytest.mark.skipif(not (BUNDLED / "model.keras").exists(), reason="no bundled model")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from mask2face.app import App
    from mask2face.predict import Unmasker
    return App(Unmasker.load(BUNDLED), tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    from mask2face.app import example_photos
    return example_photos(tmp_path_factory.mktemp("examples"))


def far_from_face(shape, box):
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    far = np.ones(shape[:2], bool)
    far[max(0, int(y0 - h)):int(y1 + h), max(0, int(x0 - w)):int(x1 + w)] = False
    return far


def test_handler_unmasks_a_masked_sample_and_keeps_the_rest(app, examples):
    photo = next(p for p in examples if "grace_hopper" in p.name)
    outcome = app.unmask(photo)
    assert outcome.summary["faces"] == 1 and outcome.summary["unmasked"] == 1, outcome.message
    assert outcome.result_file.suffix == ".png" and outcome.result_file.exists()
    before = np.asarray(Image.open(photo).convert("RGB"))
    after = np.asarray(Image.open(outcome.result_file))
    assert after.shape == before.shape
    changed = np.any(after != before, axis=2)
    box = outcome.summary["boxes"][0]
    centre_x, mouth_y = int((box[0] + box[2]) / 2), int(box[1] + 0.8 * (box[3] - box[1]))
    assert changed[mouth_y - 5:mouth_y + 5, centre_x - 5:centre_x + 5].all()
    assert not changed[far_from_face(changed.shape, box)].any()
    # The region overlay differs from the plain boxes only where the region is.
    assert np.any(outcome.regions != outcome.boxes)
    assert "1 face found, 1 unmasked" in outcome.message


def test_options_reach_the_model(app, examples):
    photo = next(p for p in examples if "grace_hopper" in p.name)
    before = np.asarray(Image.open(photo).convert("RGB"))

    def changed(**options):
        after = np.asarray(Image.open(app.unmask(photo, **options).result_file))
        return np.any(after != before, axis=2).sum()
    assert changed(grow=0.1, feather=0.0) > changed(grow=0.0, feather=0.0)
    # HOG misses most masked faces (docs/faces_and_masks.md); MTCNN finds this one.
    assert app.unmask(photo, detector="mtcnn").summary["faces"] == 1
    # (512 x 600: too large to be taken as a face crop, and the page says so)
    assert "no face found (nor taken as a face crop: over 256 px)" in app.unmask(
        photo, detector="hog").message
    assert "unknown face detector 'nope'" in app.unmask(photo, detector="nope").message
    # A request that names no detector (the API) uses the model's own again, not hog's.
    assert app.unmask(photo).summary["faces"] == 1


@pytest.mark.parametrize("content, expected", [
    (b"not an image", "not an image file"),
    (b"", "empty file"),
])
def test_a_bad_file_is_one_message_not_an_exception(app, tmp_path, content, expected):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(content)
    outcome = app.unmask(bad)
    assert outcome.result_file is None and expected in outcome.message
    assert "\n" not in outcome.message and str(tmp_path) not in outcome.message


def test_no_face_and_too_large_are_messages(app, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 300, 3), 120, np.uint8)).save(blank)
    assert app.unmask(blank).message == \
        "wall.png: no face found (nor taken as a face crop: over 256 px); try another detector"
    limit = app.max_pixels
    try:
        app.max_pixels = 100
        assert "over the limit" in app.unmask(blank).message
    finally:
        app.max_pixels = limit
    assert app.unmask(None).message == "Choose a photo first."


def test_the_page_refuses_huge_photos_fast_and_bad_numbers(app, tmp_path):
    """A 10000 x 10000 PNG of a few KB (under the command line's 100 M pixels) is refused by
    the page's lower limit from its header, before it is decoded; NaN is not a feather."""
    from mask2face.app import PAGE_MAX_PIXELS
    huge = tmp_path / "huge.png"
    Image.new("L", (10000, 10000)).save(huge, optimize=True)
    assert huge.stat().st_size < 100_000 and 10000 * 10000 > PAGE_MAX_PIXELS
    started = time.time()
    assert "over the limit" in app.unmask(huge).message
    assert time.time() - started < 2.0
    for bad in (float("nan"), float("inf"), -0.1, 5.0):
        assert "feather must be a number from 0 to 0.3" in app.unmask(huge, feather=bad).message
    assert "grow must be" in app.unmask(huge, grow=float("nan")).message


def test_the_work_folder_keeps_only_recent_results(app, examples):
    from mask2face.app import KEEP_RESULTS
    photo = next(p for p in examples if "astronaut" in p.name)
    files = [app.unmask(photo).result_file for _ in range(KEEP_RESULTS + 3)]
    assert all(f is not None for f in files)
    assert sum(f.exists() for f in files) == KEEP_RESULTS and files[-1].exists()


def test_app_without_gradio_says_how_to_install(tmp_path):
    script = ("import sys; sys.modules['gradio'] = None\n"
              "from mask2face.app import main; raise SystemExit(main([]))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert 'pip install "mask2face[app]"' in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------ a running app

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m mask2face.app`` on a free port, as a user starts it; its address."""
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install -e .[app])")
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    temporary = tmp_path_factory.mktemp("tmpdir")  # the app's $TMPDIR: empty once it stops
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(temporary)}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "mask2face.app", "--model",
                                    str(BUNDLED), "--port", str(port)], cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while "Ctrl-C stops it" not in log.read_text():
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)
    work = [line for line in log.read_text().splitlines() if "mask2face app:" in line]
    assert work and process.returncode == 0, log.read_text()[-3000:]
    assert list(temporary.iterdir()) == []  # Gradio's folders went with the app's own


def test_the_app_serves_the_api_and_cleans_up_on_exit(server, examples, tmp_path):
    from gradio_client import Client, handle_file
    client = Client(server, verbose=False)
    photo = next(p for p in examples if "astronaut" in p.name)
    result, summary = client.predict(handle_file(str(photo)), api_name="/unmask")
    assert summary["faces"] == 1 and summary["unmasked"] == 1
    before = np.asarray(Image.open(photo).convert("RGB"))
    after = np.asarray(Image.open(result).convert("RGB"))
    assert after.shape == before.shape and np.any(after != before)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    result, summary = client.predict(handle_file(str(bad)), api_name="/unmask")
    assert result is None and "not an image file" in summary["error"]


def browser():
    """A headless Chromium driven by Selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed (pip install -e .[app])")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("no Chromium/ChromeDriver on this machine (Debian: apt-get install "
                    "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1100"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=driver_path)
    return webdriver.Chrome(options=options, service=service)


def fetch(url: str) -> np.ndarray:
    """The pixels of an image the page shows (a URL of the app, or a data: URL)."""
    import base64
    import io
    if url.startswith("data:"):
        data = base64.b64decode(url.split(",", 1)[1])
    else:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_in_a_browser_upload_unmask_and_toggle_the_region(server, examples):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    photo = next(p for p in examples if "grace_hopper" in p.name)
    driver = browser()
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 120)
        upload = wait.until(seen.presence_of_element_located(
            (By.CSS_SELECTOR, "#photo input[type=file]")))
        upload.send_keys(str(photo))
        # The upload shows the file's name once it has arrived.
        wait.until(lambda d: photo.stem in d.find_element(By.ID, "photo").text)
        driver.find_element(By.ID, "unmask").click()
        wait.until(lambda d: "unmasked" in d.find_element(By.ID, "status").text)
        assert "1 face found, 1 unmasked" in driver.find_element(By.ID, "status").text
        images = wait.until(lambda d: [i for i in d.find_elements(
            By.CSS_SELECTOR, "#before-after img") if i.get_attribute("src")] or None)
        sources = [i.get_attribute("src") for i in images]
        assert len(sources) == 2, sources
        before, after = fetch(sources[0]), fetch(sources[1])
        original = np.asarray(Image.open(photo).convert("RGB"))
        assert before.shape == after.shape == original.shape
        face = json.loads(driver.execute_script(
            "return JSON.stringify(document.querySelector('#faces img').src)"))
        assert face
        changed = np.any(np.abs(after.astype(int) - before.astype(int)) > 8, axis=2)
        h, w = changed.shape
        assert changed[int(h * 0.3):int(h * 0.75), int(w * 0.3):int(w * 0.75)].mean() > 0.02
        plain = fetch(face)
        driver.find_element(By.CSS_SELECTOR, "#show-region input").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#faces img").get_attribute("src")
                   != face)
        tinted = fetch(driver.find_element(By.CSS_SELECTOR, "#faces img").get_attribute("src"))
        assert np.any(tinted != plain)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "app.png"))
        download = driver.find_element(By.CSS_SELECTOR, "#download")
        assert download.is_displayed()
    finally:
        driver.quit()
