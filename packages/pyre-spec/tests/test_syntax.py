import re

import pytest

from pyre.spec import REASON_PHRASES, TOKEN_REGEX, is_field_value, is_lowercase_token, is_token

# RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
# "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHARS = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("octet", range(256))
def test_token_is_exactly_the_tchars(octet: int) -> None:
    one = bytes([octet])
    assert is_token(one) is (octet in TCHARS)
    assert is_token(b"ab" + one + b"cd") is (octet in TCHARS)
    assert is_token(one.decode("latin-1")) is (octet in TCHARS)
    assert (re.fullmatch(TOKEN_REGEX.encode(), one) is not None) is (octet in TCHARS)
    assert is_lowercase_token(one) is (octet in TCHARS and not chr(octet).isupper())
    assert is_lowercase_token(one.decode("latin-1")) is (octet in TCHARS and not chr(octet).isupper())


@pytest.mark.parametrize("text", ["GET", b"M-SEARCH.1!#$%&'*+^_`|~", "x-a", b"X-A"])
def test_tokens(text: str | bytes) -> None:
    assert is_token(text)


@pytest.mark.parametrize("text", ["", b"", "x-a:", b"a b", "\xe9", "x\n", b"x\n"])
def test_not_tokens(text: str | bytes) -> None:
    # "x\n": fullmatch, so a trailing newline is not let through as "$" would.
    assert not is_token(text)
    assert not is_lowercase_token(text)


def test_lowercase_tokens() -> None:
    assert is_lowercase_token(b"content-type")
    assert not is_lowercase_token(b"Content-Type")


@pytest.mark.parametrize("octet", range(256))
def test_field_value_refuses_cr_lf_nul_only(octet: int) -> None:
    refused = octet in (0x0D, 0x0A, 0x00)
    assert is_field_value(b"a" + bytes([octet]) + b"b") is not refused
    assert is_field_value("a" + chr(octet) + "b") is not refused


@pytest.mark.parametrize("value", [b"", "", b"text/html; charset=utf-8", "caf\xe9", b"\xff\t "])
def test_field_values(value: str | bytes) -> None:
    assert is_field_value(value)


@pytest.mark.parametrize("value", [b"x\r\nset-cookie: a=b", "x\n", b"\r", "a\x00"])
def test_not_field_values(value: str | bytes) -> None:
    assert not is_field_value(value)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (200, "OK"),
        (404, "Not Found"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (422, "Unprocessable Content"),
        (103, "Early Hints"),
        (431, "Request Header Fields Too Large"),
    ],
)
def test_reason_phrases_are_rfc_9110s(status: int, phrase: str) -> None:
    assert REASON_PHRASES[status] == phrase


def test_reason_phrases_table() -> None:
    assert 599 not in REASON_PHRASES
    assert all(100 <= status <= 599 and phrase.isascii() for status, phrase in REASON_PHRASES.items())
    with pytest.raises(TypeError):
        REASON_PHRASES[200] = "Fine"  # type: ignore[index]
