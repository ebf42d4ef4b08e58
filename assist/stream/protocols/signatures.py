"""Request signatures of the phone systems: create (for the simulator) and verify (for the server).

* Twilio `X-Twilio-Signature`: Base64(HMAC-SHA1(auth token, full URL)).  A WebSocket upgrade has no
  POST parameters, so the signature covers the URL only.  Like Twilio's own validator we accept the
  URL with and without its default port, and (because TLS often ends at a proxy) with ws/wss or
  http/https swapped; the HMAC still binds host, path and query.
* Genesys AudioHook: RFC 9421 HTTP Message Signatures, `hmac-sha256`, key = base64-decoded client
  secret.  The signature base is one line `"<component>": <value>` per covered component, then
  `"@signature-params": <the inner list after "sig1=">`, joined with "\\n".  Policy (as the Genesys
  reference server): the six components below must be covered, nonce >= 22 chars, keyid == X-API-KEY,
  age (now - created) <= 10 s, with 3 s clock-skew tolerance on created/expires/age.

Every verifier returns None when the request is good, else a sentence saying what was wrong.
Time is injectable (`now`) for tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

# --------------------------------------------------------------------------- Twilio

_DEFAULT_PORTS = {"wss": 443, "https": 443, "ws": 80, "http": 80}
_SCHEME_TWINS = {"wss": "ws", "ws": "wss", "https": "http", "http": "https"}


def twilio_signature(auth_token: str, url: str) -> str:
    """The X-Twilio-Signature Twilio would send for a WebSocket upgrade to `url`."""
    digest = hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    variants: list[str] = []
    for scheme in (parts.scheme, _SCHEME_TWINS.get(parts.scheme, parts.scheme)):
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        userinfo = parts.netloc.rpartition("@")[0]
        prefix = f"{userinfo}@" if userinfo else ""
        port = parts.port
        default = _DEFAULT_PORTS.get(scheme)
        netlocs = [parts.netloc]
        if port is None and default is not None:
            netlocs.append(f"{prefix}{host}:{default}")
        elif port is not None and port == default:
            netlocs.append(f"{prefix}{host}")
        for netloc in netlocs:
            candidate = urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))
            if candidate not in variants:
                variants.append(candidate)
    return variants


def validate_twilio_signature(auth_token: str, url: str, signature: str) -> bool:
    """True when `signature` is Twilio's signature of `url` (or of a port/scheme variant of it)."""
    given = signature.strip().encode()
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate).encode(), given) for candidate in _url_variants(url)
    )


# --------------------------------------------------------------------------- RFC 9421 (AudioHook)

AUDIOHOOK_COMPONENTS: tuple[str, ...] = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
MAX_SIGNATURE_AGE = 10  # seconds
MAX_CLOCK_SKEW = 3  # seconds
MIN_NONCE_LENGTH = 22


class SignatureSyntaxError(ValueError):
    """A Signature / Signature-Input header that is not the RFC 8941 shape we expect."""


@dataclass(frozen=True)
class SignatureInput:
    """One parsed member of a Signature-Input dictionary: `label=("c1" "c2");k=v;...`."""

    label: str
    components: tuple[str, ...]
    params: dict[str, str | int] = field(default_factory=dict)

    def serialize_params(self) -> str:
        """The inner list as it appears after `label=` (also the @signature-params value)."""
        inner = " ".join(_sf_string(c) for c in self.components)
        text = f"({inner})"
        for key, value in self.params.items():
            text += f";{key}={value}" if isinstance(value, int) else f";{key}={_sf_string(value)}"
        return text


def _sf_string(value: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in value):
        raise SignatureSyntaxError(f"non-printable character in structured-field string {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_INT = re.compile(r"-?\d{1,15}")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*")


class _Parser:
    """Just enough of an RFC 8941 dictionary parser for Signature and Signature-Input."""

    def __init__(self, text: str) -> None:
        self.text = text.strip(" \t")
        self.i = 0

    def fail(self, what: str) -> SignatureSyntaxError:
        return SignatureSyntaxError(f"{what} at offset {self.i} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip(self, chars: str = " ") -> None:
        while self.peek() and self.peek() in chars:
            self.i += 1

    def key(self) -> str:
        m = _KEY.match(self.text, self.i)
        if not m:
            raise self.fail("expected a key")
        self.i = m.end()
        return m.group()

    def string(self) -> str:
        if self.peek() != '"':
            raise self.fail("expected a string")
        self.i += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("unterminated string")
            self.i += 1
            if ch == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise self.fail("bad escape in string")
                out.append(nxt)
                self.i += 1
            elif ch == '"':
                return "".join(out)
            elif ord(ch) < 0x20 or ord(ch) > 0x7E:
                raise self.fail("non-printable character in string")
            else:
                out.append(ch)

    def bare(self) -> str | int | bytes | bool:
        ch = self.peek()
        if ch == '"':
            return self.string()
        if ch == ":":
            end = self.text.find(":", self.i + 1)
            if end < 0:
                raise self.fail("unterminated byte sequence")
            raw = self.text[self.i + 1 : end]
            self.i = end + 1
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise self.fail("byte sequence is not base64") from exc
        if ch == "?":
            self.i += 1
            flag = self.peek()
            if flag not in ("0", "1"):
                raise self.fail("bad boolean")
            self.i += 1
            return flag == "1"
        m = _INT.match(self.text, self.i)
        if m:
            self.i = m.end()
            return int(m.group())
        m = _TOKEN.match(self.text, self.i)
        if m:
            self.i = m.end()
            return m.group()
        raise self.fail("expected an item")

    def params(self) -> dict[str, str | int | bytes | bool]:
        out: dict[str, str | int | bytes | bool] = {}
        while self.peek() == ";":
            self.i += 1
            self.skip()
            name = self.key()
            value: str | int | bytes | bool = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare()
            out[name] = value
        return out

    def member_value(self) -> tuple[object, dict[str, str | int | bytes | bool]]:
        if self.peek() == "(":
            self.i += 1
            items: list[str | int | bytes | bool] = []
            while True:
                self.skip()
                if self.peek() == ")":
                    self.i += 1
                    break
                items.append(self.bare())
                if self.peek() == ";":
                    raise self.fail("component parameters are not supported")
                if self.peek() not in (" ", ")"):
                    raise self.fail("expected a space or ')' in inner list")
            return items, self.params()
        return self.bare(), self.params()

    def dictionary(self) -> dict[str, tuple[object, dict[str, str | int | bytes | bool]]]:
        out: dict[str, tuple[object, dict[str, str | int | bytes | bool]]] = {}
        while self.i < len(self.text):
            name = self.key()
            if self.peek() != "=":
                raise self.fail("expected '='")
            self.i += 1
            out[name] = self.member_value()
            self.skip(" \t")
            if self.i >= len(self.text):
                break
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.i += 1
            self.skip(" \t")
            if self.i >= len(self.text):
                raise self.fail("trailing comma")
        return out


def parse_signature_input(header: str) -> list[SignatureInput]:
    """All members of a Signature-Input header, in order."""
    out: list[SignatureInput] = []
    for label, (value, params) in _Parser(header).dictionary().items():
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise SignatureSyntaxError(f"Signature-Input member {label!r} is not an inner list of strings")
        clean: dict[str, str | int] = {}
        for key, pval in params.items():
            if key in ("created", "expires"):
                if not isinstance(pval, int) or isinstance(pval, bool) or pval < 0:
                    raise SignatureSyntaxError(f"signature parameter {key!r} must be a non-negative integer")
            elif key in ("keyid", "nonce", "alg", "tag"):
                if not isinstance(pval, str):
                    raise SignatureSyntaxError(f"signature parameter {key!r} must be a string")
            else:
                raise SignatureSyntaxError(f"unknown signature parameter {key!r}")
            clean[key] = pval
        out.append(SignatureInput(label, tuple(str(c) for c in value), clean))
    return out


def parse_signature(header: str) -> dict[str, bytes]:
    """Label -> signature bytes from a Signature header (`sig1=:base64:`)."""
    out: dict[str, bytes] = {}
    for label, (value, _params) in _Parser(header).dictionary().items():
        if not isinstance(value, bytes):
            raise SignatureSyntaxError(f"Signature member {label!r} is not a byte sequence")
        out[label] = value
    return out


def authority(host: str, scheme: str = "wss") -> str:
    """The @authority component: the Host header, lower-cased, default port removed."""
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(f":{default}") and not host.endswith("]"):
        host = host[: -len(f":{default}")]
    return host


def signature_base(
    components: tuple[str, ...],
    values: Mapping[str, str],
    signature_params: str,
) -> str:
    """RFC 9421 signature base for `components` with their `values`."""
    lines = [f"{_sf_string(name)}: {values[name]}" for name in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines)


def _component_values(headers: Mapping[str, str], request_target: str, scheme: str) -> dict[str, str]:
    lower = {k.lower(): v for k, v in headers.items()}
    values = {k: " ".join(v.strip().split("\r\n")).strip() for k, v in lower.items()}
    values["@request-target"] = request_target
    if "host" in lower:
        values["@authority"] = authority(lower["host"], scheme)
    return values


def sign_audiohook_request(
    headers: Mapping[str, str],
    *,
    request_target: str,
    client_secret: str,
    key_id: str,
    host: str,
    scheme: str = "wss",
    created: int | None = None,
    lifetime: int = 30,
    nonce: str | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """Signature-Input and Signature headers Genesys would add to an AudioHook upgrade request.

    `headers` must hold the audiohook-* and x-api-key fields; `host` is the Host header value.
    """
    created = int(time.time()) if created is None else created
    nonce = nonce if nonce is not None else base64.b64encode(secrets.token_bytes(18)).decode()
    sig_input = SignatureInput(
        label,
        AUDIOHOOK_COMPONENTS,
        {
            "keyid": key_id,
            "nonce": nonce,
            "alg": "hmac-sha256",
            "created": created,
            "expires": created + lifetime,
        },
    )
    values = _component_values({**headers, "host": host}, request_target, scheme)
    missing = [c for c in AUDIOHOOK_COMPONENTS if c not in values]
    if missing:
        raise ValueError(f"cannot sign: no value for {', '.join(missing)}")
    params = sig_input.serialize_params()
    base = signature_base(AUDIOHOOK_COMPONENTS, values, params)
    key = base64.b64decode(client_secret)
    mac = hmac.new(key, base.encode(), hashlib.sha256).digest()
    return {
        "Signature-Input": f"{label}={params}",
        "Signature": f"{label}=:{base64.b64encode(mac).decode()}:",
    }


def verify_audiohook_signature(
    headers: Mapping[str, str],
    *,
    request_target: str,
    client_secret: str,
    scheme: str = "wss",
    now: Callable[[], float] = time.time,
) -> str | None:
    """Check the RFC 9421 signature of an AudioHook upgrade request; None when it is good.

    `headers` are the request headers as received (any case); `request_target` the original path and
    query (behind a proxy: the path the client asked for).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if "signature-input" not in lower and "signature" not in lower:
        return "request is not signed (no Signature-Input / Signature headers)"
    if "signature-input" not in lower:
        return "Signature header without Signature-Input"
    if "signature" not in lower:
        return "Signature-Input header without Signature"
    try:
        inputs = parse_signature_input(lower["signature-input"])
        sigs = parse_signature(lower["signature"])
    except SignatureSyntaxError as exc:
        return f"malformed signature header: {exc}"
    if not inputs:
        return "Signature-Input is empty"
    sig_input = inputs[0]
    if sig_input.label not in sigs:
        return f"no Signature for label {sig_input.label!r}"
    params = sig_input.params
    alg = params.get("alg", "hmac-sha256")
    if alg != "hmac-sha256":
        return f"unsupported signature algorithm {alg!r}"
    missing = [c for c in AUDIOHOOK_COMPONENTS if c not in sig_input.components]
    if missing:
        return f"signature does not cover {', '.join(missing)}"
    if len(set(sig_input.components)) != len(sig_input.components):
        return "signature covers a component twice"
    nonce = params.get("nonce")
    if not isinstance(nonce, str):
        return "signature has no nonce"
    if len(nonce) < MIN_NONCE_LENGTH:
        return f"signature nonce is {len(nonce)} chars, at least {MIN_NONCE_LENGTH} required"
    api_key = lower.get("x-api-key", "").strip()
    if params.get("keyid") != api_key:
        return "signature keyid does not match the X-API-KEY header"
    t = now()
    created = params.get("created")
    if not isinstance(created, int):
        return "signature has no created time"
    if created > t + MAX_CLOCK_SKEW:
        return f"signature created {created - t:.0f} s in the future"
    if t - created > MAX_SIGNATURE_AGE + MAX_CLOCK_SKEW:
        return f"signature is {t - created:.0f} s old (max {MAX_SIGNATURE_AGE} s)"
    expires = params.get("expires")
    if isinstance(expires, int) and expires + MAX_CLOCK_SKEW < t:
        return "signature has expired"
    values = _component_values(lower, request_target, scheme)
    absent = [c for c in sig_input.components if c not in values]
    if absent:
        return f"signed component(s) missing from the request: {', '.join(absent)}"
    for comp in sig_input.components:
        if comp.startswith("@") and comp not in ("@request-target", "@authority"):
            return f"derived component {comp!r} is not supported"
    try:
        key = base64.b64decode(client_secret)
        base = signature_base(sig_input.components, values, sig_input.serialize_params())
    except (binascii.Error, ValueError) as exc:
        return f"cannot build the signature base: {exc}"
    expected = hmac.new(key, base.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, sigs[sig_input.label]):
        return "signature does not match (wrong client secret, or the request was altered)"
    return None
