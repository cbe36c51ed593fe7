"""Privacy guarantees: nothing leaves the machine, and the service stores no audio.

A :class:`NetworkGuard` makes every outbound network attempt (``connect``, ``connect_ex``,
``create_connection``, ``getaddrinfo`` of a non-local host, ``sendto``, and any ``bind``/``listen``)
raise and records it. With it installed, inference, training, feature extraction and the service
(in-process through ``TestClient``) run as usual; ``voxemo serve`` runs in a subprocess under the
same guard, where binding and listening are allowed on loopback only, and answers the test over
loopback. Every run must end with no recorded attempt. The service must also leave no file behind
under a temporary HOME / TMPDIR / VOXEMO_CACHE when it scores an upload.

This module keeps its top-level imports to the standard library and pytest: the ``voxemo serve``
subprocess imports it to install the guard before voxemo is loaded.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "happy_actor01.flac"
LOCAL_HOST_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
NET_LOG_ENV = "VOXEMO_TEST_NET_LOG"


def is_local_host(host: Any) -> bool:
    """True for no host, a loopback name or a loopback address (no DNS is asked)."""
    if host in (None, "", b""):
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in LOCAL_HOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Refuses (raises) and records every network attempt; servers may bind loopback if allowed."""

    def __init__(self, allow_loopback_server: bool = False, log_path: str | None = None) -> None:
        self.allow_loopback_server = allow_loopback_server
        self.log_path = log_path
        self.attempts: list[str] = []

    def refuse(self, what: str, target: Any, error: type[OSError] = PermissionError) -> None:
        entry = f"{what} {target!r}"
        self.attempts.append(entry)
        if self.log_path:  # the subprocess reports through a file the test reads afterwards
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(entry + "\n")
        code = socket.EAI_NONAME if error is socket.gaierror else errno.EACCES
        raise error(code, f"networking is disabled in this test: {entry}")

    def _may_serve(self, sock: socket.socket, address: Any) -> bool:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        return self.allow_loopback_server and inet and is_local_host(address[0]) and address[0] != ""

    def install(self, patch: Callable[[Any, str, Any], None] = setattr) -> NetworkGuard:
        """Patch the socket module (``patch`` is ``monkeypatch.setattr`` in-process, ``setattr`` else)."""
        guard = self
        original_getaddrinfo = socket.getaddrinfo
        original_bind, original_listen = socket.socket.bind, socket.socket.listen

        def connect(sock: socket.socket, address: Any) -> None:
            guard.refuse("connect", address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard.refuse("connect_ex", address)
            return 1

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            guard.refuse("create_connection", address)
            raise AssertionError("unreachable")

        def sendto(sock: socket.socket, *args: Any) -> int:
            guard.refuse("sendto", args[-1])
            return 0

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> list:
            if is_local_host(host):
                return original_getaddrinfo(host, *args, **kwargs)
            guard.refuse("getaddrinfo", host, socket.gaierror)
            return []

        def bind(sock: socket.socket, address: Any) -> None:
            if not guard._may_serve(sock, address):
                guard.refuse("bind", address)
            original_bind(sock, address)

        def listen(sock: socket.socket, *args: Any) -> None:
            if not guard._may_serve(sock, sock.getsockname()):
                guard.refuse("listen", sock.getsockname())
            original_listen(sock, *args)

        for name, replacement in [
            ("connect", connect),
            ("connect_ex", connect_ex),
            ("sendto", sendto),
            ("bind", bind),
            ("listen", listen),
        ]:
            patch(socket.socket, name, replacement)
        patch(socket, "create_connection", create_connection)
        patch(socket, "getaddrinfo", getaddrinfo)
        return self


def install_in_subprocess() -> None:
    """What the ``voxemo serve`` subprocess runs first (log path from the environment)."""
    NetworkGuard(allow_loopback_server=True, log_path=os.environ[NET_LOG_ENV]).install()


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Networking disabled for this process; the test ends with no recorded attempt."""
    guard = NetworkGuard().install(monkeypatch.setattr)
    yield guard
    assert guard.attempts == [], f"network attempts: {guard.attempts}"


@pytest.fixture
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """HOME, TMPDIR and VOXEMO_CACHE pointing into empty temporary folders."""
    env = {name: str(tmp_path / name.lower()) for name in ("HOME", "TMPDIR", "VOXEMO_CACHE")}
    for name, folder in env.items():
        Path(folder).mkdir()
        monkeypatch.setenv(name, folder)
    monkeypatch.setattr(tempfile, "tempdir", None)  # make tempfile read the new TMPDIR
    return env


def listing(folders: dict[str, str]) -> dict[str, int]:
    """Every file under the folders with its size."""
    files = {}
    for folder in folders.values():
        for path in Path(folder).rglob("*"):
            if path.is_file():
                files[str(path)] = path.stat().st_size
    return files


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained bundle with a calibration temperature (built before any guard is on)."""
    from tests.inference.bundles import train_bundle

    return train_bundle(tmp_path_factory.mktemp("privacy") / "bundle", steps=5, temperature=1.5)


# ---------------------------------------------------------------- the guard itself


def test_the_guard_refuses_and_records_outbound_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = NetworkGuard().install(monkeypatch.setattr)
    with pytest.raises(OSError, match="disabled"), socket.socket() as sock:
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet is sent
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"x", ("192.0.2.1", 53))
    assert socket.getaddrinfo("127.0.0.1", 80)  # loopback lookups still work
    assert [a.split()[0] for a in guard.attempts] == ["connect", "getaddrinfo", "create_connection", "sendto"]


# ---------------------------------------------------------------- in-process: all offline


def test_inference_runs_offline(offline: NetworkGuard, bundle: Path) -> None:
    from voxemo import load_model

    recognizer = load_model(bundle)
    prediction = recognizer.predict(EXAMPLE)
    assert prediction.emotion in recognizer.labels
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    assert recognizer.info.temperature == 1.5


def test_training_runs_offline(offline: NetworkGuard, tmp_path: Path) -> None:
    from tests.training.synthetic import synthetic_set
    from voxemo.models import ModelConfig
    from voxemo.training import TrainConfig, UtteranceData, load_bundle, train

    config = TrainConfig(
        model=ModelConfig(name="cnn", params={"channels": [4, 8], "hidden": 8}),
        epochs=2,
        batch_size=9,
        num_threads=1,
        tensorboard=True,  # the default: TensorBoard logs are files, never a connection
    )
    train_set = UtteranceData(*synthetic_set([0, 1], per_class=3, seed=0))
    val_set = UtteranceData(*synthetic_set([2], per_class=2, seed=1))
    result = train(config, train_set, val_set, tmp_path / "run", progress=False)
    assert len(result.history) == 2
    _, saved = load_bundle(tmp_path / "run")
    assert saved.temperature == pytest.approx(result.temperature)
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_feature_extraction_runs_offline(offline: NetworkGuard, tmp_path: Path) -> None:
    from voxemo.audio import load_audio
    from voxemo.features import extract_many, get_extractor

    samples = load_audio(EXAMPLE)
    egemaps = get_extractor("egemaps").extract(samples)
    assert egemaps.shape == (88,) and bool(abs(egemaps).sum() > 0)
    (mfcc,) = extract_many([EXAMPLE], "mfcc", cache_dir=tmp_path / "cache", n_jobs=1, progress=False)
    assert mfcc.ndim == 2 and mfcc.shape[0] > 10


def test_service_runs_offline_and_stores_no_audio(
    offline: NetworkGuard, private_dirs: dict[str, str], bundle: Path
) -> None:
    from fastapi.testclient import TestClient

    from voxemo.inference import load_model
    from voxemo.serving import ServeConfig, create_app

    app = create_app(load_model(bundle), ServeConfig())
    with TestClient(app) as client:  # in-process transport: no socket at all
        model = client.get("/v1/model").json()
        assert model["stores_audio"] is False
        before = listing(private_dirs)
        response = client.post(
            "/v1/predict", files={"file": ("clip.flac", EXAMPLE.read_bytes(), "audio/flac")}
        )
        assert response.status_code == 200, response.text
        assert response.json()["emotion"] in model["labels"]
        assert listing(private_dirs) == before


# ---------------------------------------------------------------- `voxemo serve` in a subprocess


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"voxemo serve exited early: {process.communicate()[0]}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"voxemo serve did not answer on {base} within {timeout} s")


def test_voxemo_serve_opens_only_its_listening_socket(
    bundle: Path, tmp_path: Path, private_dirs: dict[str, str]
) -> None:
    import httpx

    port = _free_loopback_port()
    net_log = tmp_path / "network-attempts.log"
    launcher = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from tests.test_privacy import install_in_subprocess; install_in_subprocess(); "
        "from voxemo.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", launcher, "serve", "--model", str(bundle), "--host", "127.0.0.1"]
    env = {**os.environ, **private_dirs, NET_LOG_ENV: str(net_log), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        model = httpx.get(f"{base}/v1/model", timeout=10).json()
        assert model["stores_audio"] is False
        before = listing(private_dirs)
        files = {"file": ("clip.flac", EXAMPLE.read_bytes(), "audio/flac")}
        answer = httpx.post(f"{base}/v1/predict", files=files, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["emotion"] in model["labels"]
        assert listing(private_dirs) == before
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    attempts = net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
    assert attempts == [], f"the server tried to reach the network: {attempts}\n{output}"
    assert process.returncode == 0, output
    assert "networking is disabled" not in output


def test_guard_in_subprocess_would_catch_an_outbound_call(tmp_path: Path) -> None:
    """The subprocess guard is live: a connection attempt from it is refused and logged."""
    net_log = tmp_path / "attempts.log"
    script = (
        f"import sys, socket; sys.path.insert(0, {str(ROOT)!r}); "
        "from tests.test_privacy import install_in_subprocess; install_in_subprocess(); "
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.close()\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except OSError as e:\n    print('refused', e)"
    )
    env = {**os.environ, NET_LOG_ENV: str(net_log)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert "refused" in done.stdout, done.stderr
    assert net_log.read_text().splitlines() == ["create_connection ('192.0.2.1', 80)"]
    assert done.returncode == 0
