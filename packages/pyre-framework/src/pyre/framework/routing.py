"""Route patterns and the router: a trie of path segments.

A pattern is a path whose segments are either literal text or one parameter,
``{name}``, ``{name:converter}`` or ``{name:converter(arg=value, ...)}``.
``{name:path}`` takes the rest of the path, ``/`` included, and must come last.

Matching walks the trie one segment at a time.  At each node a literal child
is tried before the parameters (so ``/users/me`` beats ``/users/{id}``), and
parameters are tried in the order their converters are strict: typed ones
first, plain strings next, ``path`` last.  A parameter matches a segment when
its converter parses it, so ``/users/abc`` does not match ``/users/{id:int}``.
The walk backtracks, so a match further down the trie is still found after a
literal or a converter turned out to be a dead end.  Paths with no parameters
are also kept in one dict, for a single lookup.

A request path is split on ``/`` while it is still percent-encoded, and each
segment is decoded after (``decode_segments``).  A segment whose escapes encode
a ``/`` (``%2F``), or whose octets are not UTF-8, matches nothing: a value is
never more than one segment, so a ``{name}`` can never carry a ``/`` into a
file path, and no value is a silent guess at what the client meant.

Two registrations conflict when their patterns have the same literals and the
same converters in the same places and they share a method; that is an error
when the second one is added, not a surprise when a request arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import pyre.spec

from .convertors import Converter, PathConverter, StringConverter, converter_for, converter_from_pattern
from .exceptions import RouteConflict, RouteError, URLBuildError

E = TypeVar("E")

_PARAMETER = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?::(?P<converter>\w+)(?:\((?P<arguments>.*)\))?)?\}")


@dataclass(frozen=True, eq=False)
class PathParameter:
    """One ``{name:converter}`` segment of a compiled pattern."""

    name: str
    converter: Converter[Any]
    key: str
    """What makes two parameters the same trie edge: the converter and its arguments."""

    @property
    def rest(self) -> bool:
        return isinstance(self.converter, PathConverter)

    @property
    def rank(self) -> int:
        """Matching order among a node's parameters: strict converters before strings before ``path``."""
        if self.rest:
            return 2
        return 1 if isinstance(self.converter, StringConverter) else 0


Segment = str | PathParameter


def compile_pattern(pattern: str, annotations: Mapping[str, Any]) -> tuple[Segment, ...]:
    """The segments of ``pattern``; untyped ``{name}`` takes its converter from ``annotations[name]``."""
    if not pattern.startswith("/"):
        raise RouteError(f"route pattern {pattern!r} must start with '/'")
    segments: list[Segment] = []
    names: set[str] = set()
    texts = pattern.split("/")[1:]
    for position, text in enumerate(texts):
        if "{" not in text and "}" not in text:
            segments.append(text)
            continue
        found = _PARAMETER.fullmatch(text)
        if found is None:
            raise RouteError(f"in {pattern!r}: a parameter must fill a whole segment, not {text!r}")
        name, converter_name, arguments = found.group("name", "converter", "arguments")
        if name in names:
            raise RouteError(f"in {pattern!r}: parameter {name!r} appears twice")
        names.add(name)
        if converter_name is None:
            annotation = annotations.get(name, str)
            converter = converter_for(annotation)
            key = f"annotation:{annotation!r}"
        else:
            converter = converter_from_pattern(converter_name, arguments)
            key = f"{converter_name}({arguments or ''})"
        parameter = PathParameter(name, converter, key)
        if parameter.rest and position != len(texts) - 1:
            raise RouteError(f"in {pattern!r}: a path parameter must be the last segment")
        segments.append(parameter)
    return tuple(segments)


# RFC 3986 section 3.3: "." and ".." name no resource of their own; a single-segment
# parameter given one would be joined to a directory as its parent (``avatars / name /
# "a.png"``).  Such a segment matches literal segments and ``{rest:path}`` only.
DOT_SEGMENTS: Final = frozenset((".", ".."))


def decode_segments(raw_path: bytes) -> list[str] | None:
    """The segments of ``raw_path`` after its leading ``/``, each percent-decoded and read as UTF-8
    (``pyre.spec.path_segments``).

    ``None`` when a segment holds an encoded ``/`` or is not UTF-8 once decoded
    (an overlong ``%C0%AE`` included): no route matches such a path.
    """
    if b"%2F" in raw_path or b"%2f" in raw_path:
        return None
    return pyre.spec.path_segments(raw_path)


def parameter_names(segments: Iterable[Segment]) -> list[str]:
    return [segment.name for segment in segments if isinstance(segment, PathParameter)]


@dataclass(eq=False)
class Route(Generic[E]):
    """Everything registered under one path shape, by method."""

    pattern: str
    endpoints: dict[str, E] = field(default_factory=dict)
    explicit: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    """Endpoint name by explicit method, for conflict messages."""
    allow: str = ""
    """The ``Allow`` header value: every method answered here."""

    def add(self, pattern: str, methods: Iterable[str], endpoint: E, name: str) -> None:
        for method in methods:
            if method in self.explicit:
                other = f"{method} {self.pattern} ({self.names[method]})"
                raise RouteConflict(f"{method} {pattern} ({name}) conflicts with {other}")
        for method in methods:
            self.explicit.add(method)
            self.names[method] = name
            self.endpoints[method] = endpoint
        # HEAD is GET without the body (RFC 9110 section 9.3.2); the server drops the content.
        if "GET" in self.explicit and "HEAD" not in self.explicit:
            self.endpoints["HEAD"] = self.endpoints["GET"]
        self.allow = ", ".join(sorted({*self.endpoints, "OPTIONS"}))


class _Node(Generic[E]):
    __slots__ = ("static", "parameters", "edges", "route")

    def __init__(self) -> None:
        self.static: dict[str, _Node[E]] = {}
        self.parameters: list[tuple[PathParameter, _Node[E]]] = []
        self.edges: tuple[tuple[Callable[[str], Any], bool, _Node[E]], ...] = ()
        """``parameters`` as ``(parse, takes the rest, child)``: what matching needs, nothing more."""
        self.route: Route[E] | None = None


@dataclass(frozen=True)
class Registration(Generic[E]):
    pattern: str
    segments: tuple[Segment, ...]
    methods: tuple[str, ...]
    endpoint: E
    name: str


class Router(Generic[E]):
    """Finds the endpoint for a path and a method."""

    def __init__(self) -> None:
        self._root: _Node[E] = _Node()
        self._static: dict[str, Route[E]] = {}
        self._registrations: list[Registration[E]] = []
        self._names: dict[str, Registration[E]] = {}

    @property
    def registrations(self) -> list[Registration[E]]:
        return list(self._registrations)

    def add(
        self, pattern: str, segments: tuple[Segment, ...], methods: Iterable[str], endpoint: E, name: str
    ) -> None:
        """Register ``endpoint`` for ``methods`` on ``segments``; raises ``RouteError`` on a conflict."""
        registration = Registration(pattern, segments, tuple(methods), endpoint, name)
        if name in self._names:
            raise RouteError(f"endpoint name {name!r} is already used by {self._names[name].pattern}")
        if not registration.methods:
            raise RouteError(f"{pattern} ({name}) has no methods")
        self._insert(registration)
        self._registrations.append(registration)
        self._names[name] = registration

    def remove(self, keep: Callable[[E], bool]) -> None:
        """Drop every endpoint for which ``keep`` is false."""
        kept = [registration for registration in self._registrations if keep(registration.endpoint)]
        self._root = _Node()
        self._static = {}
        self._registrations = []
        self._names = {}
        for registration in kept:
            self.add(
                registration.pattern,
                registration.segments,
                registration.methods,
                registration.endpoint,
                registration.name,
            )

    def _insert(self, registration: Registration[E]) -> None:
        node = self._root
        for segment in registration.segments:
            if isinstance(segment, str):
                node = node.static.setdefault(segment, _Node())
                continue
            for parameter, child in node.parameters:
                if parameter.key == segment.key:
                    node = child
                    break
            else:
                child = _Node()
                node.parameters.append((segment, child))
                node.parameters.sort(key=lambda item: item[0].rank)
                node.edges = tuple((p.converter.parse, p.rest, c) for p, c in node.parameters)
                node = child
        if node.route is None:
            node.route = Route(registration.pattern)
        node.route.add(registration.pattern, registration.methods, registration.endpoint, registration.name)
        if all(isinstance(segment, str) for segment in registration.segments):
            self._static[registration.pattern] = node.route

    def match(self, path: str, method: str | None) -> tuple[Route[E], list[Any]] | None:
        """The route for ``path`` answering ``method`` (any method when ``None``) and its parameter values."""
        route = self._static.get(path)
        if route is not None and (method is None or method in route.endpoints):
            return route, []
        values: list[Any] = []
        found = _walk(self._root, path.split("/"), 1, values, method)  # segment 0 is the "" before "/"
        return None if found is None else (found, values)

    def match_path(self, raw_path: bytes, method: str | None) -> tuple[Route[E], list[Any]] | None:
        """``match`` for a request's ``raw_path``, split while it is encoded (``decode_segments``)."""
        if b"%" not in raw_path:
            # No escapes: the segments are raw_path's own, and one decode() gives the whole path for
            # the lookup among static routes (as pyre.spec.path_segments, invalid UTF-8 matches nothing).
            # match() inlined: this runs for every request.
            try:
                path = raw_path.decode()
            except UnicodeDecodeError:
                return None
            route = self._static.get(path)
            if route is not None and (method is None or method in route.endpoints):
                return route, []
            values: list[Any] = []
            found = _walk(self._root, path.split("/"), 1, values, method)
            return None if found is None else (found, values)
        segments = decode_segments(raw_path)
        return None if segments is None else self.match_segments(segments, method)

    def match_segments(self, segments: list[str], method: str | None) -> tuple[Route[E], list[Any]] | None:
        """``match`` for a path already split into decoded segments (``decode_segments``)."""
        values: list[Any] = []
        route = _walk(self._root, segments, 0, values, method)
        return None if route is None else (route, values)

    def has_name(self, name: str) -> bool:
        """Whether an endpoint is registered under ``name``."""
        return name in self._names

    def url_path(self, name: str, parameters: Mapping[str, Any]) -> str:
        """The path of endpoint ``name`` with ``parameters`` put in, percent-encoded."""
        try:
            registration = self._names[name]
        except KeyError:
            raise URLBuildError(f"no endpoint named {name!r}") from None
        expected = parameter_names(registration.segments)
        if set(parameters) != set(expected):
            raise URLBuildError(
                f"{name} ({registration.pattern}) takes parameters {expected}, not {sorted(parameters)}"
            )
        texts = []
        for segment in registration.segments:
            if isinstance(segment, str):
                texts.append(quote(segment, safe=""))
                continue
            try:
                text = segment.converter.format(parameters[segment.name])
                segment.converter.parse(text)
            except (ValueError, TypeError, AttributeError) as error:
                raise URLBuildError(
                    f"{name}: {segment.name}={parameters[segment.name]!r} does not fit its converter: {error}"
                ) from None
            if "/" in text and not segment.rest:
                # The router refuses an encoded "/" in a segment: such a URL would match nothing.
                raise URLBuildError(f"{name}: {segment.name}={text!r} holds a '/'; only a path parameter may")
            if text in DOT_SEGMENTS and not segment.rest:
                # A lone "." or ".." matches no single-segment parameter (nor would a client keep it).
                raise URLBuildError(
                    f"{name}: {segment.name}={text!r} is a dot segment; only a path parameter may be"
                )
            texts.append(quote(text, safe="/" if segment.rest else ""))
        return "/" + "/".join(texts)


def _walk(
    node: _Node[E], segments: list[str], index: int, values: list[Any], method: str | None
) -> Route[E] | None:
    """The first route in matching order from ``node`` on; ``values`` gets the parameters converted.

    Where a node offers a single way on, the walk loops instead of recursing; it only
    recurses where it may have to come back and try another child.  On failure
    ``values`` may hold leftovers, which the caller that recursed cuts off.
    """
    count = len(segments)
    while index != count:
        segment = segments[index]
        child = node.static.get(segment)
        edges = node.edges
        if child is not None:
            if not edges:
                node = child
                index += 1
                continue
            mark = len(values)
            found = _walk(child, segments, index + 1, values, method)
            if found is not None:
                return found
            del values[mark:]
        if not segment or not edges:
            return None
        if len(edges) == 1:
            parse, rest, child = edges[0]
            if not rest and segment in DOT_SEGMENTS:
                return None
            try:
                values.append(parse("/".join(segments[index:]) if rest else segment))
            except ValueError:
                return None
            node = child
            index = count if rest else index + 1
            continue
        mark = len(values)
        dot = segment in DOT_SEGMENTS
        for parse, rest, child in edges:
            if dot and not rest:
                continue
            try:
                value = parse("/".join(segments[index:]) if rest else segment)
            except ValueError:
                continue
            values.append(value)
            found = _walk(child, segments, count if rest else index + 1, values, method)
            if found is not None:
                return found
            del values[mark:]
        return None
    route = node.route
    if route is not None and (method is None or method in route.endpoints):
        return route
    return None
