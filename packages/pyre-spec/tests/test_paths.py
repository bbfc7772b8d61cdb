from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyre.spec import decode_path, path_segments

# Octets a path may hold, escapes and slashes made likely.
path_bytes = st.lists(
    st.sampled_from(
        [b"/", b"%2F", b"%2f", b"%C3%A9", b"%E9", b"%", b"%4", b"a", b"\xc3\xa9", b"\xff", b"%C0%AE"]
    )
    | st.binary(max_size=3),
    max_size=12,
).map(lambda parts: b"/" + b"".join(parts))


@pytest.mark.parametrize(
    ("raw_path", "path"),
    [
        (b"/caf%C3%A9/a%2Fb", "/café/a/b"),
        (b"/a%20b", "/a b"),
        (b"/plain/path", "/plain/path"),
        (b"/%E9t%E9", "/\ufffdt\ufffd"),  # latin-1 escapes are not UTF-8
        (b"/caf\xc3\xa9", "/café"),  # raw UTF-8 octets, no escape
        (b"/\xff", "/\ufffd"),
        (b"/a/../b//c/", "/a/../b//c/"),  # no normalisation
        (b"/100%", "/100%"),  # not an escape: left as it is
        (b"*", "*"),
        (b"", ""),
    ],
)
def test_decode_path(raw_path: bytes, path: str) -> None:
    assert decode_path(raw_path) == path


@given(path_bytes)
def test_decode_path_is_pyre_req_5(raw_path: bytes) -> None:
    assert decode_path(raw_path) == unquote_to_bytes(raw_path).decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("raw_path", "segments"),
    [
        (b"/caf%C3%A9/a%2Fb", ["café", "a/b"]),  # split first: the encoded slash stays in its segment
        (b"/a%2fb", ["a/b"]),
        (b"/users/42", ["users", "42"]),
        (b"/", [""]),
        (b"//a/", ["", "a", ""]),
        (b"/caf\xc3\xa9", ["café"]),
        (b"/a%20b/%25", ["a b", "%"]),
        (b"*", []),
        (b"", []),
    ],
)
def test_path_segments(raw_path: bytes, segments: list[str]) -> None:
    assert path_segments(raw_path) == segments


@pytest.mark.parametrize(
    "raw_path",
    [b"/%E9", b"/ok/%C0%AE%C0%AE", b"/%FF", b"/%C3", b"/%ED%A0%80", b"/\xff", b"/a/\xe9/b"],
    ids=["latin-1", "overlong-dots", "ff", "truncated", "surrogate", "raw-ff", "raw-latin-1"],
)
def test_path_segments_refuses_what_is_not_utf8(raw_path: bytes) -> None:
    assert path_segments(raw_path) is None


@given(path_bytes)
def test_path_segments_decode_each_segment_of_the_split(raw_path: bytes) -> None:
    segments = path_segments(raw_path)
    pieces = [unquote_to_bytes(piece) for piece in raw_path.split(b"/")[1:]]
    try:
        expected = [piece.decode() for piece in pieces]
    except UnicodeDecodeError:
        assert segments is None
    else:
        assert segments == expected
        if b"%2f" not in raw_path.lower():
            assert "/" + "/".join(expected) == decode_path(raw_path)
