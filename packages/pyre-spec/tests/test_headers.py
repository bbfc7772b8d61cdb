from hypothesis import given
from hypothesis import strategies as st

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


def test_names_fold_only_ascii_letters() -> None:
    # str.lower() turns the Kelvin sign into "k" and "\xc4" into "\xe4"; field names are
    # ASCII tokens (RFC 9110 section 5.1), so neither may find a field it does not name.
    headers = Headers([(b"keep", b"1"), (b"\xe4", b"2"), (b"X-\xc4", b"3")])
    assert headers.get("\u212aeep") is None
    assert headers.get_all("\u212aEEP") == []
    assert "\u212aeep" not in headers
    assert headers.get("KEEP") == "1"
    assert headers.get("\xc4") is None
    assert headers.get("\xe4") == "2"
    assert headers["x-\xc4"] == "3"
    assert "X-\xe4" not in headers
    assert list(headers) == [("keep", "1"), ("\xe4", "2"), ("x-\xc4", "3")]


def _ascii_fold(name: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name)


_raw_names = st.binary(min_size=1, max_size=6) | st.sampled_from([b"Keep", b"HOST", b"\xc4", b"k"])
_raw_fields = st.lists(st.tuples(_raw_names, st.binary(max_size=4)), max_size=8)


@given(raw=_raw_fields, data=st.data())
def test_lookup_agrees_with_ascii_only_case_folding(
    raw: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    names = [name.decode("latin-1") for name, _ in raw]
    spelling = (
        st.sampled_from(names)
        .flatmap(lambda name: st.tuples(*(st.sampled_from([c, c.upper(), c.lower()]) for c in name)))
        .map("".join)
    )
    odd = st.text(alphabet="kK\u212a\xc4\xe4\u0130i\u212b\xe5\u0178\xff", max_size=4)
    query = data.draw(spelling | odd if names else odd)
    headers = Headers(raw)
    expected = [v.decode("latin-1") for n, v in raw if _ascii_fold(n.decode("latin-1")) == _ascii_fold(query)]
    assert headers.get_all(query) == expected
    assert headers.get(query) == (expected[0] if expected else None)
    assert (query in headers) == bool(expected)
    assert [name for name, _ in headers] == [_ascii_fold(name) for name in names]
