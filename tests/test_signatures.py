"""Twilio X-Twilio-Signature and AudioHook RFC 9421 signatures against published vectors and policy."""

from __future__ import annotations

import base64

import pytest

from assist.stream.protocols import signatures as sig
from assist.stream.protocols.audiohook import check_audiohook_auth
from assist.stream.protocols.twilio import check_twilio_signature

# ------------------------------------------------------------------------------------------- Twilio


def test_twilio_signature_is_base64_hmac_sha1_of_the_url() -> None:
    # the well-known HMAC-SHA1 test vector: key "key", "The quick brown fox jumps over the lazy dog"
    expected = base64.b64encode(bytes.fromhex("de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9")).decode()
    assert sig.twilio_signature("key", "The quick brown fox jumps over the lazy dog") == expected


def test_twilio_validation_accepts_port_and_scheme_variants() -> None:
    token = "12345"
    signed = sig.twilio_signature(token, "wss://assist.example.com/twilio")
    assert sig.validate_twilio_signature(token, "wss://assist.example.com/twilio", signed)
    assert sig.validate_twilio_signature(token, "wss://assist.example.com:443/twilio", signed)
    assert sig.validate_twilio_signature(token, "ws://assist.example.com/twilio", signed)  # TLS ended at a proxy
    assert not sig.validate_twilio_signature(token, "wss://assist.example.com/twilio2", signed)
    assert not sig.validate_twilio_signature(token, "wss://evil.example.com/twilio", signed)
    assert not sig.validate_twilio_signature("54321", "wss://assist.example.com/twilio", signed)
    with_port = sig.twilio_signature(token, "wss://assist.example.com:443/twilio")
    assert sig.validate_twilio_signature(token, "wss://assist.example.com/twilio", with_port)


def test_check_twilio_signature_messages() -> None:
    url = "wss://assist.example.com/twilio"
    good = sig.twilio_signature("tok", url)
    assert check_twilio_signature(url, good, "tok") is None
    assert check_twilio_signature(url, None, None) is None  # check off
    assert check_twilio_signature(url, None, "tok") == "missing X-Twilio-Signature header"
    problem = check_twilio_signature(url, good, "other")
    assert problem is not None and "does not match" in problem


# ------------------------------------------------------------------------------------------- AudioHook

# "Example 1" of the Genesys AudioHook protocol documentation (also used by the reference implementation)
DOC_API_KEY = "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"
DOC_SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="
DOC_TARGET = "/api/v1/voicebiometrics/ws"
DOC_CREATED = 1641013200
DOC_HEADERS = {
    "Host": "audiohook.example.com",
    "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
    "Audiohook-Session-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "Audiohook-Correlation-Id": "e160e428-53e2-487c-977d-96989bf5c99d",
    "X-API-KEY": DOC_API_KEY,
    "Signature": "sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:",
    "Signature-Input": 'sig1=("@request-target" "@authority" "audiohook-organization-id" '
    '"audiohook-session-id" "audiohook-correlation-id" "x-api-key");keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";'
    'nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430',
}


def verify(headers: dict[str, str] = DOC_HEADERS, *, now: float = DOC_CREATED + 5, **kw: str) -> str | None:
    return sig.verify_audiohook_signature(
        headers,
        request_target=kw.get("target", DOC_TARGET),
        client_secret=kw.get("secret", DOC_SECRET),
        now=lambda: now,
    )


def test_documentation_example_verifies() -> None:
    assert verify() is None


def test_signing_reproduces_the_documentation_example() -> None:
    plain = {k: v for k, v in DOC_HEADERS.items() if k not in ("Host", "Signature", "Signature-Input")}
    made = sig.sign_audiohook_request(
        plain,
        request_target=DOC_TARGET,
        client_secret=DOC_SECRET,
        key_id=DOC_API_KEY,
        host="audiohook.example.com",
        created=DOC_CREATED,
        lifetime=3282026430 - DOC_CREATED,
        nonce="VGhpc0lzQVVuaXF1ZU5vbmNl",
    )
    assert made == {"Signature-Input": DOC_HEADERS["Signature-Input"], "Signature": DOC_HEADERS["Signature"]}


def test_signature_base_lines() -> None:
    [parsed] = sig.parse_signature_input(DOC_HEADERS["Signature-Input"])
    values = {
        "@request-target": DOC_TARGET,
        "@authority": "audiohook.example.com",
        "audiohook-organization-id": "d7934305-0972-4844-938e-9060eef73d05",
        "audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
        "audiohook-correlation-id": "e160e428-53e2-487c-977d-96989bf5c99d",
        "x-api-key": DOC_API_KEY,
    }
    base = sig.signature_base(parsed.components, values, parsed.serialize_params())
    assert base.split("\n") == [
        '"@request-target": /api/v1/voicebiometrics/ws',
        '"@authority": audiohook.example.com',
        '"audiohook-organization-id": d7934305-0972-4844-938e-9060eef73d05',
        '"audiohook-session-id": 30b0e395-84d3-4570-ac13-9a62d8f514c0',
        '"audiohook-correlation-id": e160e428-53e2-487c-977d-96989bf5c99d',
        f'"x-api-key": {DOC_API_KEY}',
        '"@signature-params": ' + DOC_HEADERS["Signature-Input"].removeprefix("sig1="),
    ]


def test_header_case_and_default_port_do_not_matter() -> None:
    upper = {k.upper(): v for k, v in DOC_HEADERS.items()}
    upper["HOST"] = "AudioHook.Example.com:443"
    assert verify(upper) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"Audiohook-Session-Id": "00000000-0000-0000-0000-000000000000"}, "does not match"),
        ({"Host": "other.example.com"}, "does not match"),
        ({"X-API-KEY": "another-key"}, "keyid does not match the X-API-KEY"),
        ({"Signature": "sig1=:AAAA:"}, "does not match"),
        (
            {"Signature": "sig2=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:"},
            "no Signature for label 'sig1'",
        ),
        ({"Signature": "sig1=NZBw"}, "not a byte sequence"),
        ({"Signature-Input": "sig1=(@request-target)"}, "malformed signature header"),
    ],
)
def test_tampering_is_rejected(change: dict[str, str], expected: str) -> None:
    problem = verify({**DOC_HEADERS, **change})
    assert problem is not None and expected in problem


def test_wrong_secret_or_target() -> None:
    assert "does not match" in (verify(secret=base64.b64encode(b"wrong secret").decode()) or "")
    assert "does not match" in (verify(target="/api/ws") or "")


def test_age_and_clock_skew() -> None:
    assert verify(now=DOC_CREATED + 10) is None
    assert verify(now=DOC_CREATED + 13) is None  # 10 s max age + 3 s skew
    assert "s old" in (verify(now=DOC_CREATED + 14) or "")
    assert verify(now=DOC_CREATED - 3) is None  # created up to 3 s in our future
    assert "in the future" in (verify(now=DOC_CREATED - 4) or "")


def _resigned(**changes: object) -> dict[str, str]:
    plain = {k: v for k, v in DOC_HEADERS.items() if k not in ("Host", "Signature", "Signature-Input")}
    made = sig.sign_audiohook_request(
        plain,
        request_target=DOC_TARGET,
        client_secret=DOC_SECRET,
        key_id=str(changes.get("key_id", DOC_API_KEY)),
        host="audiohook.example.com",
        created=DOC_CREATED,
        lifetime=int(str(changes.get("lifetime", 30))),
        nonce=str(changes.get("nonce", "n" * 24)),
    )
    return {**DOC_HEADERS, **made}


def test_policy_nonce_keyid_expiry() -> None:
    assert verify(_resigned()) is None
    assert "at least 22 required" in (verify(_resigned(nonce="short")) or "")
    assert "keyid does not match" in (verify(_resigned(key_id="someone-else")) or "")
    assert "expired" in (verify(_resigned(lifetime=1), now=DOC_CREATED + 5) or "")


def test_signature_must_cover_every_component() -> None:
    headers = dict(DOC_HEADERS)
    headers["Signature-Input"] = headers["Signature-Input"].replace(' "x-api-key"', "")
    assert "does not cover x-api-key" in (verify(headers) or "")


def test_unsigned_and_half_signed() -> None:
    plain = {k: v for k, v in DOC_HEADERS.items() if not k.startswith("Signature")}
    assert "not signed" in (verify(plain) or "")
    assert "without Signature-Input" in (verify({**plain, "Signature": DOC_HEADERS["Signature"]}) or "")
    assert "without Signature" in (verify({**plain, "Signature-Input": DOC_HEADERS["Signature-Input"]}) or "")


def auth(headers: dict[str, str], api_key: str | None, secret: str | None) -> str | None:
    return check_audiohook_auth(
        headers,
        request_target=DOC_TARGET,
        api_key=api_key,
        client_secret=secret,
        now=lambda: DOC_CREATED + 1.0,
    )


def test_check_audiohook_auth() -> None:
    assert auth(DOC_HEADERS, None, None) is None  # nothing configured: open
    assert auth(DOC_HEADERS, DOC_API_KEY, DOC_SECRET) is None
    assert auth({}, DOC_API_KEY, None) == "missing X-API-KEY header"
    assert auth({"x-api-key": "nope"}, DOC_API_KEY, None) == "X-API-KEY is not the configured key"
    plain = {k: v for k, v in DOC_HEADERS.items() if not k.startswith("Signature")}
    assert auth(plain, DOC_API_KEY, None) is None  # key only: signature not required
    assert "not signed" in (auth(plain, DOC_API_KEY, DOC_SECRET) or "")


def test_structured_field_parser_edge_cases() -> None:
    [a, b] = sig.parse_signature_input('a=("x-api-key");created=1;keyid="k\\"q", b=("@authority")')
    assert a.components == ("x-api-key",) and a.params == {"created": 1, "keyid": 'k"q'}
    assert b.label == "b"
    assert a.serialize_params() == '("x-api-key");created=1;keyid="k\\"q"'
    with pytest.raises(sig.SignatureSyntaxError, match="unknown signature parameter"):
        sig.parse_signature_input('a=("x");color="red"')
    with pytest.raises(sig.SignatureSyntaxError, match="trailing comma"):
        sig.parse_signature_input('a=("x"),')
    with pytest.raises(sig.SignatureSyntaxError, match="non-negative integer"):
        sig.parse_signature_input('a=("x");created="soon"')
