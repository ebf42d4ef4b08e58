"""`assist serve` as an operator starts it: a port already taken is reported and the process exits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_port_in_use_is_reported_and_the_process_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "ASSIST_PORT": str(port),
            "ASSIST_DATA_DIR": str(tmp_path),
            "ASSIST_RTP_PORTS": "",
            "ASSIST_AUDIOSOCKET_PORT": "",
            "ASSIST_LOG_FORMAT": "json",
        }
        env.pop("ASSIST_VOSK_MODEL", None)
        proc = subprocess.run(
            [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 2, proc.stderr
    assert "cannot listen" in proc.stderr and str(port) in proc.stderr, proc.stderr


def _serve(tmp_path: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ASSIST_DATA_DIR": str(tmp_path),
        "ASSIST_RTP_PORTS": "",
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_LOG_FORMAT": "json",
        **env_overrides,
    }
    for name in ("ASSIST_VOSK_MODEL", "ASSIST_API_TOKEN", "ASSIST_INSECURE"):
        if name not in env_overrides:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_no_token_beyond_loopback_is_refused_before_listening(tmp_path: Path) -> None:
    proc = _serve(tmp_path, ASSIST_HOST="0.0.0.0", ASSIST_PORT="1")
    assert proc.returncode == 2, proc.stderr
    assert "ASSIST_API_TOKEN is not set" in proc.stderr and "ASSIST_INSECURE=1" in proc.stderr, proc.stderr


def test_open_api_problem_by_address_token_and_opt_out() -> None:
    from assist.settings import Settings

    assert Settings(host="127.0.0.1").open_api_problem() is None
    assert Settings(host="::1").open_api_problem() is None
    assert Settings(host="localhost").open_api_problem() is None
    for host in ("0.0.0.0", "::", "10.1.2.3", "assist.example.com"):
        assert Settings(host=host).open_api_problem() is not None, host
        assert Settings(host=host, api_token="s3cret").open_api_problem() is None
        assert Settings(host=host, insecure=True).open_api_problem() is None
