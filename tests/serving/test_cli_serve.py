"""`voxemo serve` end to end: options, a bad model, and a real server process on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.serving.conftest import LABELS, free_port
from voxemo.cli import main


def test_help_lists_the_options(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--model", "--max-upload-mb", "--workers-queue", "--concurrency"):
        assert option in out


def test_bad_settings_and_missing_model_exit_2(capsys, tmp_path):
    assert main(["serve", "--port", "0"]) == 2
    assert "port must be between 1 and 65535" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "nowhere"), "--port", "8765"]) == 2
    assert "not found" in capsys.readouterr().err


def test_serve_runs_a_real_server(bundle_dir):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    launcher = "import sys; from voxemo.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", launcher, "serve", "--model", str(bundle_dir), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, f"server did not come up: {process.poll()}"
        assert health.json()["status"] == "ok"
        model = httpx.get(f"http://127.0.0.1:{port}/v1/model", timeout=5).json()
        assert model["labels"] == LABELS
        assert model["stores_audio"] is False
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text.startswith("<!doctype html>")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output
    assert f"serving on http://127.0.0.1:{port}" in output


@pytest.mark.parametrize("flag", ["--max-upload-mb", "--workers-queue"])
def test_negative_limits_exit_2(capsys, flag):
    assert main(["serve", flag, "-1"]) == 2
    assert "must be" in capsys.readouterr().err
