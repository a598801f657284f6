"""The app in a real headless browser: Playwright drives Debian's chromium (never a downloaded browser build).

Starts `videocomposer app` on 127.0.0.1 (the demo model), draws a stroke with mouse events, generates, and checks the
downloaded video (frame count) and strokes JSON (the drawn path, and its B-spline within tolerance of it), what the
page shows (the video at an integer nearest-neighbour scale, the grid at 2x, the model header, no internal names),
the message of every bad field, Stop and the button states, extraction, inpainting and bad uploads. Generating,
extracting and inpainting save a screenshot in tmp_path; set VC_APP_SCREENSHOT=path to keep the first one, made
after generating with 30 steps (the README's docs/app.png is made that way). `make test` installs chromium and the
`app` extra; the test is skipped, with the reason, only when the browser or the extra is missing.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import PIL.Image
import pytest

from videocomposer.motion import load_strokes, strokes_to_trajectories
from videocomposer.motion.strokes import DEFAULT_TOLERANCE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]
# The drawn path, as fractions of the canvas: from the lower left, curving up to the upper right.
PATH = [(0.15, 0.80), (0.30, 0.72), (0.45, 0.58), (0.58, 0.42), (0.70, 0.30), (0.82, 0.22)]
FRAMES = 8
STEPS = 30 if os.environ.get("VC_APP_SCREENSHOT") else 3  # a screenshot for the README shows a finished video

playwright_api = pytest.importorskip("playwright.sync_api", reason="the app extra is not installed (playwright)")
pytest.importorskip("gradio", reason="the app extra is not installed (gradio)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing and could not be installed (make test installs it with apt-get)",
                allow_module_level=True)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1")
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "videocomposer.cli", "app", "--port", str(port), "--frames", str(FRAMES),
             "--output-dir", str(tmp_path_factory.mktemp("outputs"))],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while url not in log.read_text():
            assert process.poll() is None, f"the app exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the app did not start in 300 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(app_url, wait_until="domcontentloaded")
    page.locator("#vc-canvas canvas[data-ready=true]").wait_for(timeout=60_000)  # its mouse handlers are attached
    # and the page's events reach Python (under load the page takes a while to wire them after it is drawn)
    for _ in range(60):
        page.get_by_role("button", name="Blank background").click()
        try:
            page.locator("#vc-status", has_text="blank background").wait_for(timeout=1000)
            break
        except playwright_api.TimeoutError:
            continue
    else:
        raise AssertionError("the page's buttons never reached the app")
    yield page
    page.close()


def status(page, containing: str, timeout: float = 60.0) -> str:
    """The status line once it contains ``containing`` (fails with the last text after ``timeout`` seconds)."""
    line = page.locator("#vc-status")
    deadline = time.monotonic() + timeout
    while containing not in (text := line.inner_text()):
        assert time.monotonic() < deadline, f"status never said {containing!r}; it says {text!r}"
        time.sleep(0.25)
    return text


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance of each point ``(N, 2)`` to the polyline ``(M, 2)`` (nearest point on any segment)."""
    start, end = polyline[:-1], polyline[1:]
    direction = end - start
    t = np.einsum("nsd,sd->ns", points[:, None] - start[None], direction) / np.sum(direction**2, axis=1)
    nearest = start[None] + np.clip(t, 0, 1)[..., None] * direction[None]
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def test_draw_generate_download(page, tmp_path):
    canvas = page.locator("#vc-canvas canvas")
    box = canvas.bounding_box()
    size = canvas.evaluate("c => [c.width, c.height]")
    screen = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in PATH]
    page.mouse.move(*screen[0])
    page.mouse.down()
    for point in screen[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()
    assert status(page, "stroke(s), smoothed").startswith("1 stroke(s)")

    page.locator("#vc-prompt textarea").fill("a red circle moving to the upper right on a plain background")
    page.locator("#vc-steps input").fill(str(STEPS))
    page.locator("#vc-frames input").fill(str(FRAMES))
    page.locator("#vc-generate").click()
    assert f"generated {FRAMES} frames (motion from the strokes)" in status(page, "generated", timeout=150)
    for video in ("#vc-video video", "#vc-grid video"):  # shown, with its size known (metadata loaded)
        page.wait_for_function(f"() => document.querySelector('{video}')?.videoWidth > 0", timeout=30_000)
    page.screenshot(path=os.environ.get("VC_APP_SCREENSHOT") or str(tmp_path / "app.png"), full_page=True)

    # the 64x64 video at an integer scale, nearest neighbour; the grid at twice its size (128-pixel tiles)
    shown = page.locator("#vc-video video").evaluate(
        "v => [v.videoWidth, v.clientWidth, v.clientHeight, getComputedStyle(v).imageRendering]")
    assert shown[0] == 64 and shown[1] == shown[2] and shown[1] % 64 == 0 and shown[1] >= 384
    assert shown[3] == "pixelated"
    grid = page.locator("#vc-grid video").evaluate("v => [v.videoWidth, v.videoHeight, v.clientWidth, v.clientHeight]")
    assert grid[1] == 128 and grid[3] == 256 and grid[2] == 2 * grid[0]
    text = page.locator("body").inner_text()
    for jargon in ("local_image", "masked", "motion_vectors", "Errno"):
        assert jargon not in text
    header = page.locator("#vc-header").inner_text()
    assert "64x64 video, trained on 8 frames" in header and "moving-shapes" in header
    assert "converted release" in header

    files = {}
    for link in page.locator("#vc-downloads a").all():
        href = link.get_attribute("href")
        name = href.rsplit("/", 1)[-1]
        files[name] = tmp_path / name
        files[name].write_bytes(page.request.get(href).body())
    assert sorted(files) == ["conditions.safetensors", "strokes.json", "video.mp4"]

    with av.open(str(files["video.mp4"])) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == FRAMES and decoded[0].shape == (64, 64, 3)

    saved = load_strokes(files["strokes.json"])
    assert (saved.width, saved.height) == tuple(size) == (256, 256)
    assert len(saved.strokes) == 1 and saved.strokes[0].times is None  # constant speed unless asked
    drawn = np.array(PATH) * np.array(size)  # canvas pixels (the canvas fills its box)
    points = np.array(saved.strokes[0].points)
    assert len(points) >= 20  # every mouse move of at least a canvas pixel was recorded
    np.testing.assert_allclose(points[0], drawn[0], atol=1.0)
    np.testing.assert_allclose(points[-1], drawn[-1], atol=1.0)
    assert distance_to_polyline(points, drawn).max() <= 1.0
    smooth = strokes_to_trajectories(saved.strokes, 64, saved.width, saved.height)[0]
    assert distance_to_polyline(smooth, drawn).max() <= 2 * DEFAULT_TOLERANCE

    from safetensors.torch import load_file

    conditions = load_file(files["conditions.safetensors"])
    assert list(conditions) == ["motion_vectors"] and tuple(conditions["motion_vectors"].shape) == (
        1,
        2,
        FRAMES,
        64,
        64,
    )
    moving = conditions["motion_vectors"][0, :, 1:].flatten(1).norm(dim=0) > 0
    assert moving.any()


def open_tab(page, name: str, element: str) -> None:
    """Click the tab ``name`` until ``element`` (one of its components) is shown (a click during hydration is lost)."""
    for _ in range(20):
        page.get_by_role("tab", name=name).click()
        try:
            page.locator(element).wait_for(state="visible", timeout=3000)
            return
        except playwright_api.TimeoutError:
            continue
    raise AssertionError(f"the tab {name!r} never showed {element}")


def test_bad_uploads_give_messages(page, tmp_path):
    open_tab(page, "From a video", "#vc-clip")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    page.locator("#vc-clip input[type=file]").set_input_files(str(corrupt))
    message = status(page, "Error")
    assert "cannot read corrupt.mp4 as a video: not a readable video file: corrupt, truncated or not a video" in message
    assert "Errno" not in message
    page.locator("#vc-clip input[type=file]").wait_for(state="attached")  # the rejected file was removed

    image = tmp_path / "still.png"
    PIL.Image.new("RGB", (32, 24), (200, 30, 30)).save(image)
    page.locator("#vc-clip input[type=file]").set_input_files(str(image))
    assert "still.png is a still image, not a video" in status(page, "still image")


def test_extract_conflicts_and_clearing_a_stroke(page, tmp_path):
    from videocomposer.data.synthetic import encode_mp4, generate_clip

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_mp4(generate_clip(5, 8, 48, 64, num_objects=1).frames, fps=4))
    open_tab(page, "From a video", "#vc-clip")
    page.locator("#vc-clip input[type=file]").set_input_files(str(clip))
    status(page, "clip loaded")
    page.get_by_label("canny edges").check()
    page.locator("#vc-extract").click()
    message = status(page, "extracted")
    assert "extracted motion, canny edges" in message and "sketch" not in message
    page.wait_for_function("() => document.querySelector('#vc-extracted video')?.videoWidth > 0", timeout=30_000)
    page.screenshot(path=str(tmp_path / "extracted.png"), full_page=True)
    strip = page.locator("#vc-extracted video").evaluate("v => [v.videoWidth, v.videoHeight, v.clientWidth, v.clientHeight]")
    assert strip[1] == 128 and strip[2:] == strip[:2]  # clip, motion, canny edges, legend: 128-pixel tiles at 1x
    page.get_by_label("depth (needs --depth-model)").check()
    page.locator("#vc-extract").click()
    assert "depth needs DPT depth weights: start the app with --depth-model" in status(page, "depth needs")

    open_tab(page, "Draw motion", "#vc-canvas canvas")
    box = page.locator("#vc-canvas canvas").bounding_box()
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 120, steps=8)
    page.mouse.up()
    status(page, "1 stroke(s)")
    canvas = page.locator("#vc-canvas canvas")
    size = canvas.evaluate("c => [c.width, c.height]")
    middle = [round(125 * size[0] / box["width"]), round(85 * size[1] / box["height"])]  # on the stroke
    pixel = "([x, y]) => Array.from(document.querySelector('#vc-canvas canvas').getContext('2d').getImageData(x, y, 1, 1).data)"
    blank = [236, 236, 236, 255]  # the blank background
    assert page.evaluate(pixel, middle) != blank
    page.locator("#vc-generate").click()
    assert "motion comes from both the drawn strokes and the extracted clip" in status(page, "motion comes from both")
    page.locator("#vc-clear-stroke").click()
    status(page, "no strokes")
    assert page.evaluate(pixel, middle) == blank  # the stroke is gone from the canvas


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("#vc-steps input", "", "Steps is empty: enter a whole number from 1 to 999"),
        ("#vc-steps input", "1000", "Steps is 1000: enter a whole number from 1 to 999"),
        ("#vc-seed input", "-1", "Seed is -1: enter a whole number from 0 to 4294967295"),
        ("#vc-frames input", "", "Frames is empty: enter a whole number from 2 to"),
        ("#vc-frames input", "100000", "Frames is 100000: enter a whole number from 2 to"),
        ("#vc-steps input", "2.5", "Steps is 2.5: enter a whole number from 1 to 999"),
        ("#vc-guidance textarea", "lots", "Guidance: 'lots' is not a number"),
        ("#vc-prompt textarea", "", "Prompt is empty: describe the video"),
    ],
)
def test_every_field_gets_a_message_naming_it(page, field, value, message):
    page.locator(field).fill(value)
    page.locator("#vc-generate").click()
    assert message in status(page, message.split(":")[0], timeout=30)
    wait_until(page.locator("#vc-generate").is_enabled, "Generate stayed disabled after the message")


def test_stop_cancels_the_generation(page):
    assert page.locator("#vc-stop").is_disabled()
    page.locator("#vc-steps input").fill("999")
    page.locator("#vc-generate").click()
    status(page, "generating")
    wait_until(lambda: page.locator("#vc-generate").is_disabled() and page.locator("#vc-stop").is_enabled(),
               "Generate was not disabled / Stop not enabled while running")
    time.sleep(1.0)
    page.locator("#vc-stop").click()
    text = status(page, "Stopped after step", timeout=60)
    step = int(text.split("Stopped after step ")[1].split()[0])
    assert 1 <= step < 999 and "of 999: nothing was written" in text
    wait_until(lambda: page.locator("#vc-generate").is_enabled() and page.locator("#vc-stop").is_disabled(),
               "Generate stayed disabled (or Stop enabled) after Stop")


def test_inpaint_with_an_uploaded_mask(page, tmp_path):
    from videocomposer.data.synthetic import encode_mp4, generate_clip

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_mp4(generate_clip(9, 8, 48, 64, num_objects=1).frames, fps=4))
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:50] = 255
    PIL.Image.fromarray(mask).save(tmp_path / "hole.png")
    open_tab(page, "Inpaint", "#vc-inpaint-clip")
    page.locator("#vc-inpaint-clip input[type=file]").set_input_files(str(clip))
    status(page, "paint the region to regenerate")
    page.locator("#vc-mask input[type=file]").set_input_files(str(tmp_path / "hole.png"))
    page.locator("#vc-use-mask").click()
    status(page, "mask set: Generate regenerates the white region")
    page.locator("#vc-inpaint-grid video").wait_for(timeout=30_000)
    page.locator("#vc-steps input").fill("2")
    page.locator("#vc-generate").click()
    assert f"generated {FRAMES} frames (inpainting)" in status(page, "generated", timeout=150)
    page.wait_for_function("() => document.querySelector('#vc-grid video')?.videoWidth > 0", timeout=30_000)
    page.screenshot(path=str(tmp_path / "inpaint.png"), full_page=True)
    text = page.locator("body").inner_text()
    assert "masked" not in text.lower() and "local_image" not in text


def test_radius_out_of_range_is_named(page):
    page.locator("#vc-radius input[type=number]").fill("999")
    page.keyboard.press("Enter")
    assert "Radius is 999: enter a number from 2 to 256" in status(page, "Radius", timeout=30)
    assert not page.locator(".toast-body").count()  # no toast without the field's name
