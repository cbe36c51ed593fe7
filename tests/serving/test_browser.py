"""The web page driven by headless Chromium: upload a clip and record from a (fake) microphone.

Needs Debian's /usr/bin/chromium (``scripts/install_browser.sh``) and the ``playwright`` package;
playwright drives the system browser, it never downloads one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf

from tests.serving.conftest import CHROMIUM, CHROMIUM_ARGS, LABELS, running_server
from voxemo.audio import load_audio

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium: run scripts/install_browser.sh (as root)"
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs the playwright package (pip install playwright)"
)


@pytest.fixture
def server(make_app):
    with running_server(make_app()) as base_url:
        yield base_url


def launch(playwright, extra_args: list[str] | None = None):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS + (extra_args or [])
    )


def page_scores(page) -> dict[str, float]:
    return page.eval_on_selector_all(
        "#bars li[data-label]",
        "items => Object.fromEntries(items.map(li => [li.dataset.label, Number(li.dataset.score)]))",
    )


def test_upload_a_clip_and_read_the_result(server, recognizer, example_clip):
    expected = recognizer.predict(example_clip)
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=10_000)
            assert page.locator("#bars li").count() == len(LABELS)
            page.set_input_files("#file-input", str(example_clip))
            page.click("#analyse-button")
            page.wait_for_selector("#status.ok", timeout=15_000)
            page.wait_for_function(
                "() => Number(document.querySelector('#timeline').dataset.points) > 0", timeout=15_000
            )
            top = page.text_content("#top-emotion")
            scores = page_scores(page)
            status = page.text_content("#status")
            chart_label = page.get_attribute("#timeline", "aria-label")
        finally:
            browser.close()
    assert errors == []
    assert top == expected.emotion
    assert list(scores) == LABELS
    for label in LABELS:
        assert scores[label] == pytest.approx(expected.scores[label], abs=1e-5)
    assert example_clip.name in status and expected.emotion in status
    assert chart_label.startswith("Emotion scores over")


def test_record_from_the_microphone_streams_live_scores(server, example_clip, tmp_path):
    """Chromium's fake capture device plays a real clip as the microphone."""
    fake_mic = tmp_path / "mic.wav"
    sf.write(fake_mic, load_audio(example_clip), 16_000, subtype="PCM_16")
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, args)
        try:
            context = browser.new_context()
            context.grant_permissions(["microphone"], origin=server)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=10_000)
            page.click("#record-button")
            assert page.get_attribute("#record-button", "aria-pressed") == "true" or page.wait_for_selector(
                "#record-button[aria-pressed=true]", timeout=5_000
            )
            # Window 2 s, hop 0.5 s: three scored windows need 3 s of streamed audio.
            page.wait_for_function(
                "() => Number(document.querySelector('#timeline').dataset.points) >= 3", timeout=20_000
            )
            live_scores = page_scores(page)
            page.click("#record-button")
            page.wait_for_function(
                "() => document.querySelector('#status').textContent.startsWith('Recording finished')",
                timeout=10_000,
            )
            status = page.text_content("#status")
            top = page.text_content("#top-emotion")
            pressed = page.get_attribute("#record-button", "aria-pressed")
        finally:
            browser.close()
    assert errors == []
    assert sum(live_scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert top in LABELS
    assert f"overall {top}" in status
    assert pressed == "false"


def test_chromium_install_script_is_idempotent():
    script = Path(__file__).resolve().parents[2] / "scripts" / "install_browser.sh"
    assert script.is_file()
    bash = shutil.which("bash")
    import subprocess

    result = subprocess.run([bash, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout
