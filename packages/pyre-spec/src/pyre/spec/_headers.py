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

    Names are matched case-insensitively (RFC 9110 section 5.1).  Values are
    decoded as ISO-8859-1, which maps every octet to one character and so never
    fails; field values are opaque octets to HTTP (RFC 9110 section 5.5).
    """

    __slots__ = ("raw", "_index")

    def __init__(self, raw: RawHeaders = ()) -> None:
        self.raw: RawHeaders = raw
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.raw:
                key = name.decode("latin-1").lower()
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
        values = self._lookup().get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name``, in the order received."""
        return list(self._lookup().get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        values = self._lookup().get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(lowercased name, value)`` for every field line, in order."""
        for name, value in self.raw:
            yield name.decode("latin-1").lower(), value.decode("latin-1")

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
