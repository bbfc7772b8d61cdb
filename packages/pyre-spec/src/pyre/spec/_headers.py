"""Field sections: request headers and trailers (spec section 4).

``Headers`` is concrete rather than a Protocol so that every server and every
app agree on one lookup behaviour.  It keeps the raw ``(name, value)`` byte
pairs exactly as received and decodes only what is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeAlias, overload

RawHeaders: TypeAlias = Sequence[tuple[bytes, bytes]]
"""Field lines as ``(name, value)`` byte pairs, in order."""


class Headers:
    """An ordered, multi-valued, case-insensitive view of a field section.

    Names are matched ASCII case-insensitively (RFC 9110 section 5.1): only
    ``A``-``Z`` fold to ``a``-``z``, so a non-ASCII name such as ``"\\u212aeep"``
    (with a Kelvin sign, which ``str.lower()`` turns into ``"keep"``) finds
    nothing.  Values are decoded as ISO-8859-1, which maps every octet to one
    character and so never fails; field values are opaque octets to HTTP (RFC
    9110 section 5.5).
    """

    __slots__ = ("raw", "_index")

    def __init__(self, raw: RawHeaders = ()) -> None:
        self.raw: RawHeaders = raw
        self._index: dict[str, list[str]] | None = None

    def _build_index(self) -> dict[str, list[str]]:
        # Called by each lookup only while _index is None: a method call per lookup
        # would cost more than the lookup itself.
        index: dict[str, list[str]] = {}
        for name, value in self.raw:
            key = name.lower().decode("latin-1")  # bytes.lower() folds only A-Z
            decoded = value.decode("latin-1")
            found = index.get(key)
            if found is None:
                index[key] = [decoded]
            else:
                found.append(decoded)
        self._index = index
        return index

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of field ``name``, or ``default``."""
        index = self._index
        if index is None:
            index = self._build_index()
        values = index.get(name.lower() if name.isascii() else _fold(name))
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name``, in the order received."""
        index = self._index
        if index is None:
            index = self._build_index()
        return list(index.get(name.lower() if name.isascii() else _fold(name), ()))

    def __getitem__(self, name: str) -> str:
        index = self._index
        if index is None:
            index = self._build_index()
        values = index.get(name.lower() if name.isascii() else _fold(name))
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        index = self._index
        if index is None:
            index = self._build_index()
        return (name.lower() if name.isascii() else _fold(name)) in index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(lowercased name, value)`` for every field line, in order."""
        for name, value in self.raw:
            yield name.lower().decode("latin-1"), value.decode("latin-1")

    def __len__(self) -> int:
        return len(self.raw)

    def __bool__(self) -> bool:
        return bool(self.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self.raw)!r})"


_ASCII_LOWER: dict[int, int] = {upper: upper + 32 for upper in range(ord("A"), ord("Z") + 1)}


def _fold(name: str) -> str:
    """ASCII lower case for a name with non-ASCII characters, which ``str.lower()`` would also fold.

    For an ASCII name the two agree and ``str.lower()`` is faster, hence the
    ``isascii()`` test at each call site rather than here.
    """
    return name.translate(_ASCII_LOWER)
