from pyre.spec import Headers


def test_lookup_is_case_insensitive_and_ordered() -> None:
    headers = Headers([(b"Host", b"example.com"), (b"Accept", b"a"), (b"accept", b"b")])
    assert headers["host"] == "example.com"
    assert headers.get("ACCEPT") == "a"
    assert headers.get_all("Accept") == ["a", "b"]
    assert "HOST" in headers
    assert "missing" not in headers
    assert headers.get("missing") is None
    assert headers.get("missing", "x") == "x"
    assert list(headers) == [("host", "example.com"), ("accept", "a"), ("accept", "b")]
    assert len(headers) == 3


def test_raw_bytes_are_preserved() -> None:
    raw = [(b"X-Custom", b"\xe9t\xe9")]
    headers = Headers(raw)
    assert headers.raw is raw
    assert headers["x-custom"] == "\xe9t\xe9"


def test_missing_key_raises() -> None:
    try:
        Headers()["x"]
    except KeyError:
        pass
    else:
        raise AssertionError("expected KeyError")
