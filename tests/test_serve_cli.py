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
        env = {**os.environ, "ASSIST_PORT": str(port), "ASSIST_DATA_DIR": str(tmp_path), "ASSIST_RTP_PORTS": "",
               "ASSIST_AUDIOSOCKET_PORT": "", "ASSIST_LOG_FORMAT": "json"}
        env.pop("ASSIST_VOSK_MODEL", None)
        proc = subprocess.run([sys.executable, "-m", "assist.cli", "serve"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "cannot listen" in proc.stderr and str(port) in proc.stderr, proc.stderr
