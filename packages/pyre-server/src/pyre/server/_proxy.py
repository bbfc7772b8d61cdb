"""Who the client is behind a reverse proxy: ``Forwarded`` and ``X-Forwarded-*``.

Pure functions over header bytes; the connection decides once whether its peer
is a trusted proxy (``TrustedProxies.trusts_peer``), and only a trusted peer's
requests are looked at (``forwarded``).

Which header is read: ``X-Forwarded-For``, ``-Proto`` and ``-Host`` when any of
them is present, else RFC 7239 ``Forwarded``; never a mix of the two.  Every
common proxy (nginx's ``proxy_add_x_forwarded_for``, HAProxy's ``forwardfor``,
cloud load balancers, Kubernetes ingresses) sets the ``X-Forwarded-*`` family,
and a proxy that sets it usually passes a client's ``Forwarded`` through
untouched, so next to it ``Forwarded`` is the header a client could have forged.
It is also what uvicorn reads, so a uvicorn deployment behaves the same.

A list of proxies is walked right to left (each proxy appends the address it
received the request from): entries that are trusted proxies are skipped and
the first other one is the client.  Only the entries up to that one are parsed,
so whatever a client puts to the left of its own address is never looked at.
A malformed value where it matters is ignored (logged at debug level): the
request keeps its peer's address, scheme or host, and is never refused for it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from typing import Final

from pyre.spec import TOKEN_REGEX

from ._http11 import _HOST as HOST_SYNTAX

logger = logging.getLogger("pyre.server.error")

Address = tuple[str, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 7239 section 4: forwarded-pair = token "=" value; value = token / quoted-string.
_TOKEN: Final = TOKEN_REGEX.encode()
_PAIR: Final = re.compile(rb"[ \t]*(" + _TOKEN + rb")=(" + _TOKEN + rb'|"(?:[^"\\]|\\.)*")[ \t]*')
_QUOTED_PAIR: Final = re.compile(rb"\\(.)")
# RFC 7239 section 6: node = nodename [ ":" node-port ], the obfuscated forms included.
_NODE: Final = re.compile(
    r"(?:(?P<v4>[0-9.]+)|\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>unknown|_[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}|_[A-Za-z0-9._-]+))?"
)
# An X-Forwarded-For entry: an address, maybe with a port; IPv6 bare or in brackets.
_X_NODE: Final = re.compile(
    r"(?:(?P<v4>[0-9.]+)(?::(?P<port4>[0-9]{1,5}))?|\[(?P<v6b>[0-9A-Fa-f:.]+)\](?::(?P<port6>[0-9]{1,5}))?"
    r"|(?P<v6>[0-9A-Fa-f:.]+)|(?P<name>unknown))"
)
# What X-Forwarded-Proto or proto= may say, as received (bytes) or lower-cased (str).
_SCHEMES: Final[dict[str | bytes, str]] = {
    "http": "http",
    "https": "https",
    "ws": "http",
    "wss": "https",
    b"http": "http",
    b"https": "https",
    b"ws": "http",
    b"wss": "https",
}
# The lengths of the names looked for: other fields are passed over without lower-casing them.
_HEADER_LENGTHS: Final = frozenset(
    len(name) for name in (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
)
_UNSEEN: Final = object()
_MOST_VERDICTS: Final = 4096


class TrustedProxies:
    """The peers whose forwarding headers are believed: ``--forwarded-allow-ips``.

    A comma-separated list of IP addresses and CIDR networks, or ``*`` for every
    peer.  A Unix-socket peer is always trusted: only local processes allowed by
    the socket file's permissions can connect.
    """

    __slots__ = ("everyone", "addresses", "networks", "_verdicts", "_x_nodes")

    def __init__(self, allowed: str) -> None:
        self.everyone = False
        self.addresses: set[IpAddress] = set()
        self.networks: list[Network] = []
        for entry in (part.strip() for part in allowed.split(",")):
            if entry == "*":
                self.everyone = True
            elif "/" in entry:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            elif entry:
                self.addresses.add(ipaddress.ip_address(entry))
        # Parsing an address costs more than all the rest: clients and proxies come back.
        self._verdicts: dict[str, bool | None] = {}
        self._x_nodes: dict[bytes, tuple[Address, bool] | None] = {}

    def trusts_peer(self, peer: Address | None, family: int) -> bool:
        if family == getattr(socket, "AF_UNIX", None):
            return True
        return peer is not None and self.trusts(peer[0])

    def trusts(self, host: str) -> bool:
        """Whether ``host`` is a trusted proxy; a name (``unknown``, ``_hidden``) never is."""
        return self.everyone or self.verdict(host) is True

    def verdict(self, host: str) -> bool | None:
        """Whether the IP address ``host`` is in the list; ``None`` if it is no IP address."""
        verdict = self._verdicts.get(host, _UNSEEN)
        if verdict is _UNSEEN:
            verdict = self._judge(host)
            if len(self._verdicts) >= _MOST_VERDICTS:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict  # type: ignore[return-value]

    def x_node(self, entry: bytes) -> tuple[Address, bool] | None:
        """An ``X-Forwarded-For`` entry as ``(host, port)`` and whether it is trusted;
        ``None`` if malformed."""
        node = self._x_nodes.get(entry, _UNSEEN)
        if node is _UNSEEN:
            node = _x_node(entry.decode("latin-1"), self)
            if len(self._x_nodes) >= _MOST_VERDICTS:
                self._x_nodes.clear()
            self._x_nodes[entry] = node
        return node  # type: ignore[return-value]

    def _judge(self, host: str) -> bool | None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
        return address in self.addresses or any(address in network for network in self.networks)


def forwarded(
    headers: list[tuple[bytes, bytes]], proxies: TrustedProxies
) -> tuple[Address | None, str | None, str | None]:
    """``(client, scheme, authority)`` a trusted peer forwarded; ``None`` for each it did not.

    ``headers`` are the request's raw header pairs, names in any case.
    """
    forwarded_values: list[bytes] = []
    fors: list[bytes] = []
    protos: list[bytes] = []
    hosts: list[bytes] = []
    for name, value in headers:
        if len(name) not in _HEADER_LENGTHS:
            continue
        lowered = name.lower()
        if lowered == b"x-forwarded-for":
            fors.append(value)
        elif lowered == b"x-forwarded-proto":
            protos.append(value)
        elif lowered == b"x-forwarded-host":
            hosts.append(value)
        elif lowered == b"forwarded":
            forwarded_values.append(value)
    if fors or protos or hosts:
        return from_x_forwarded(fors, protos, hosts, proxies)
    if forwarded_values:
        return from_forwarded(forwarded_values, proxies)
    return None, None, None


def from_x_forwarded(
    fors: list[bytes], protos: list[bytes], hosts: list[bytes], proxies: TrustedProxies
) -> tuple[Address | None, str | None, str | None]:
    """From ``X-Forwarded-For``, ``-Proto`` and ``-Host`` (each a list, field lines combined).

    The scheme and host are the entries as many places from the right as the
    client is in ``X-Forwarded-For`` (the ones the proxy the client reached
    recorded), or the leftmost entry when the list is shorter: a single value,
    the common case, applies whatever the number of proxies.
    """
    entries = _list(fors)
    client: Address | None = None
    hops = 0
    for hops, entry in enumerate(reversed(entries)):
        node = proxies.x_node(entry)
        if node is None:
            logger.debug("Ignoring a malformed X-Forwarded-For entry %r", entry)
            break
        if hops == len(entries) - 1 or not (proxies.everyone or node[1]):
            client = node[0]
            break
    scheme = _scheme(_entry_at(_list(protos), hops), "X-Forwarded-Proto")
    host = _host(_entry_at(_list(hosts), hops), "X-Forwarded-Host")
    return client, scheme, host


def from_forwarded(
    values: list[bytes], proxies: TrustedProxies
) -> tuple[Address | None, str | None, str | None]:
    """From RFC 7239 ``Forwarded`` field lines.

    The element whose ``for`` is the client was added by the proxy the client
    connected to: its ``proto`` and ``host`` are what the client used.
    """
    elements = _split_elements(b",".join(values))
    if elements is None:
        logger.debug("Ignoring a malformed Forwarded header %r", b",".join(values))
        return None, None, None
    for index in range(len(elements) - 1, -1, -1):
        element = parse_element(elements[index])
        if element is None:
            logger.debug("Ignoring a malformed Forwarded element %r", elements[index])
            return None, None, None
        node_text = element.get("for")
        node = parse_node(node_text) if node_text is not None else None
        if node_text is not None and node is None:
            logger.debug("Ignoring a malformed Forwarded for=%r", node_text)
            return None, None, None
        if node is None or index == 0 or not proxies.trusts(node[0]):
            scheme = _scheme(element.get("proto"), "Forwarded proto")
            host = _host(element.get("host"), "Forwarded host")
            return node, scheme, host
    return None, None, None


def _split_elements(value: bytes) -> list[bytes] | None:
    """The comma-separated elements of a ``Forwarded`` value (commas in quoted strings kept);
    ``None`` for an unterminated quoted string."""
    elements = _split_outside_quotes(value, 0x2C)
    return None if elements is None else [element for element in elements if element.strip(b" \t")]


def parse_element(element: bytes) -> dict[str, str] | None:
    """``{parameter: value}`` of one ``forwarded-element`` (names lower-cased, quotes removed);
    ``None`` if it is malformed or names a parameter twice."""
    pairs: dict[str, str] = {}
    parts = element.split(b";") if b'"' not in element else _split_outside_quotes(element, 0x3B)
    if parts is None:
        return None
    for part in parts:
        if not part.strip(b" \t"):
            continue
        match = _PAIR.fullmatch(part)
        if match is None:
            return None
        name = match[1].decode("ascii").lower()
        raw = match[2]
        if raw[:1] == b'"':
            raw = _QUOTED_PAIR.sub(rb"\1", raw[1:-1])
        if name in pairs:  # RFC 7239 section 4: "MUST NOT occur more than once"
            return None
        pairs[name] = raw.decode("latin-1")
    return pairs


def _split_outside_quotes(value: bytes, delimiter: int) -> list[bytes] | None:
    """``value`` split at each ``delimiter`` octet outside quoted strings (RFC 9110 section 5.6.4);
    ``None`` for an unterminated quoted string."""
    parts: list[bytes] = []
    start = 0
    index = 0
    quoted = False
    while index < len(value):
        byte = value[index]
        if quoted and byte == 0x5C:  # backslash: the next byte is literal
            index += 1
        elif byte == 0x22:
            quoted = not quoted
        elif byte == delimiter and not quoted:
            parts.append(value[start:index])
            start = index + 1
        index += 1
    if quoted:
        return None
    parts.append(value[start:])
    return parts


def parse_node(text: str) -> Address | None:
    """A ``Forwarded`` ``for=`` node as ``(host, port)``: IPv6 without brackets; an obfuscated
    or ``unknown`` name as it is; port 0 when absent or obfuscated.  ``None`` if malformed."""
    match = _NODE.fullmatch(text)
    if match is None:
        return None
    host = match["v4"] or match["v6"]
    if host is not None and not _is_ip(host, 4 if match["v4"] else 6):
        return None
    port = _port(match["port"])
    return (host or match["name"], port) if port is not None else None


def _x_node(text: str, proxies: TrustedProxies) -> tuple[Address, bool] | None:
    """An X-Forwarded-For entry as ``(host, port)``, and whether it is a trusted proxy."""
    match = _X_NODE.fullmatch(text.strip(" \t"))
    if match is None:
        return None
    if match["name"]:
        return (match["name"], 0), False
    if match["v4"]:
        host, port = match["v4"], match["port4"]
    else:
        host, port = match["v6b"] or match["v6"], match["port6"]
    trusted = proxies.verdict(host)
    number = _port(port)
    if trusted is None or number is None or (match["v4"] is None) != (":" in host):
        return None
    return (host, number), trusted


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _port(text: str | None) -> int | None:
    """0 when absent or obfuscated; ``None`` when out of range."""
    if text is None or text[:1] == "_":
        return 0
    port = int(text)
    return port if port <= 65535 else None


def _list(values: list[bytes]) -> list[bytes]:
    """The entries of a comma-separated list field, its field lines combined."""
    if len(values) == 1 and b"," not in values[0]:  # one proxy, the usual case
        entry = values[0].strip(b" \t")
        return [entry] if entry else []
    return [
        entry for value in values for entry in (part.strip(b" \t") for part in value.split(b",")) if entry
    ]


def _entry_at(entries: list[bytes], from_right: int) -> bytes | None:
    if not entries:
        return None
    return entries[max(len(entries) - 1 - from_right, 0)]


def _scheme(value: bytes | str | None, where: str) -> str | None:
    if value is None:
        return None
    scheme = _SCHEMES.get(value)
    if scheme is not None:
        return scheme
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme = _SCHEMES.get(text.lower())
    if scheme is None:
        logger.debug("Ignoring %s %r: not http or https", where, text)
    return scheme


def _host(value: bytes | str | None, where: str) -> str | None:
    if value is None:
        return None
    raw = value.encode("latin-1") if isinstance(value, str) else value
    if not raw or not HOST_SYNTAX.fullmatch(raw):
        logger.debug("Ignoring %s %r: not a host", where, raw)
        return None
    return raw.decode("latin-1")
