"""Service settings: environment variables `ASSIST_*`, optionally a TOML file named by `ASSIST_CONFIG`.

Environment variables win over the file, the file over the defaults.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSIST_", extra="ignore")

    # network
    host: str = "127.0.0.1"
    port: int = 8080
    audiosocket_port: int | None = Field(9092, description="TCP port for Asterisk AudioSocket; unset = off")
    rtp_ports: str | None = Field("40000-40019", description="UDP port range for RTP external media; unset = off")
    public_url: str | None = Field(None, description="the URL phone systems reach us at (Twilio signatures)")
    poll_interval_ms: float = Field(
        10.0,
        ge=0.0,
        le=50.0,
        description="while busy, the event loop polls for "
        "network I/O at most this often and takes what arrived in one wake-up; 0 = "
        "wake for every message (assist/service/eventloop.py)",
    )

    # storage
    data_dir: Path = Path("data")
    db_path: Path | None = None
    database_url: str | None = Field(
        None,
        description="sqlite:///path/to/assist.db or postgresql://user@host:port/db (several nodes share "
        "one PostgreSQL database); unset = the SQLite file DB_PATH, else DATA_DIR/assist.db",
    )
    database_pool_size: int = Field(10, ge=1, le=1000, description="PostgreSQL connections each process keeps")

    # recognition
    vosk_model: str | None = Field(None, description="a model directory, or pkg:NAME of an installed package")
    model_cache: Path = Path.home() / ".cache" / "assist" / "models"
    decode_workers: int = Field(default_factory=_default_workers)
    chunk_ms: int = 100
    max_streams: int = Field(
        12,
        description="recognition streams (2 per call) this process admits; "
        "bench/asr.py measures it (12 on 2 cores with the small model)",
    )
    max_lag: float = Field(1.5, description="seconds of decode lag above which new calls are refused")
    vad: Literal["off", "endpoint", "energy"] = Field(
        "energy",
        description="energy: only speech (with pre-roll and tail) is decoded and the gate ends "
        "utterances where speech stops; endpoint: all audio is decoded, the gate still ends utterances; "
        "off: vosk alone decides where utterances end (bench/RESULTS.md compares them)",
    )
    vad_pre_roll: float = Field(0.3, ge=0.02, le=2.0, description="seconds of audio kept before speech starts")
    vad_hangover: float = Field(0.5, ge=0.1, le=3.0, description="seconds of quiet after which speech has stopped")
    vad_tail: float = Field(
        0.2,
        ge=0.02,
        le=3.0,
        description="seconds of that quiet the decoder gets (at most the "
        "hangover); the rest of a pause is held back like silence",
    )
    endpoint_rules: tuple[float, float, float] | None = Field(
        (0.3, 0.6, 1.0), description="vosk endpoint rule2/3/4 trailing silence (s); unset = the model's own"
    )

    # phone-system credentials (separate from people's)
    api_token: str | None = Field(
        None,
        description="bearer token for the dialler/CTI API and the live feed; "
        "required when the service listens beyond loopback",
    )
    insecure: bool = Field(
        False,
        description="serve the API and live feed without a token on a non-loopback "
        "address (a lab behind its own firewall; never production)",
    )
    twilio_auth_token: str | None = None
    twilio_inbound_speaker: Literal["customer", "agent"] = "customer"
    audiohook_api_key: str | None = None
    audiohook_client_secret: str | None = None
    audiofork_user: str | None = None
    audiofork_password: str | None = None
    max_message_bytes: int = 64 * 1024
    media_timeout: float = Field(
        10.0,
        gt=0.0,
        description="seconds a phone connection may go without audio "
        "after it opens (no start, no first media) before it is closed with the "
        "protocol's error",
    )

    # running as one of several nodes behind a load balancer (docs/scale.md)
    advertise_host: str | None = Field(
        None,
        description="the address phone systems reach this node's AudioSocket and RTP ports at, returned by "
        "POST /api/calls; unset = ASSIST_HOST, or the host name when ASSIST_HOST is a wildcard address",
    )
    drain_seconds: float = Field(
        300.0,
        ge=0.0,
        description="on SIGTERM or POST /api/admin/drain, how long calls in progress may take to finish "
        "(and due CRM deliveries to go out) before the node ends the rest and exits",
    )
    drain_admit_seconds: float = Field(
        5.0,
        ge=0.0,
        description="after a drain begins, /readyz says 503 at once but new calls are still taken this long: the "
        "load balancer keeps sending them until its health checks see it (HAProxy example: 2 checks 2 s apart)",
    )
    metrics_token: str | None = Field(
        None,
        description="bearer token for GET /metrics (Prometheus); the API token is accepted too; "
        "neither set = /metrics is open like the rest of the API",
    )

    # logging
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # coach
    default_language: str = "zh-CN"
    playbook_dir: Path | None = Field(
        None,
        description="a directory of extra playbooks (<language>.yaml), "
        "searched before the packaged assist/coach/playbooks",
    )

    @field_validator(
        "rtp_ports",
        "vosk_model",
        "public_url",
        "api_token",
        "audiosocket_port",
        "endpoint_rules",
        "playbook_dir",
        "database_url",
        "advertise_host",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, v: str | None) -> str | None:
        if v is not None and not v.strip().lower().startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                f"ASSIST_DATABASE_URL={v!r} names no engine: use sqlite:///path/to/assist.db or "
                "postgresql://user@host:port/db"
            )
        return v

    def open_api_problem(self) -> str | None:
        """Why serving would expose the dialler API and the live feed (every call's transcript) to the
        network without a credential; None when it would not."""
        if self.api_token is not None or self.insecure or _is_loopback(self.host):
            return None
        return (
            f"ASSIST_HOST={self.host} serves the dialler API and the live feed of every call beyond this "
            "machine, but ASSIST_API_TOKEN is not set: set a token (or ASSIST_INSECURE=1 to serve them open)"
        )

    def advertised_host(self) -> str:
        """The host phone systems send this node's audio to (AudioSocket, RTP): ASSIST_ADVERTISE_HOST, else
        ASSIST_HOST unless that is a wildcard (then this machine's host name)."""
        if self.advertise_host:
            return self.advertise_host
        if self.host in ("0.0.0.0", "::", ""):
            return socket.gethostname()
        return self.host

    @property
    def database(self) -> Path:
        """The SQLite file (when no database URL is set)."""
        return self.db_path or (self.data_dir / "assist.db")

    @property
    def database_target(self) -> str | Path:
        """What `assist.store.db.open_database` opens: the database URL, else the SQLite file."""
        return self.database_url or self.database

    def rtp_port_range(self) -> range | None:
        if not self.rtp_ports:
            return None
        lo, _, hi = self.rtp_ports.partition("-")
        start = int(lo)
        end = int(hi or lo)
        if end < start:
            raise ValueError(f"ASSIST_RTP_PORTS: {self.rtp_ports!r} ends before it starts")
        return range(start, end + 1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("ASSIST_CONFIG")
        if config:
            if not Path(config).is_file():
                raise FileNotFoundError(f"ASSIST_CONFIG={config}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)
