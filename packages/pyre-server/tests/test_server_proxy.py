"""Proxy headers: the pure parsing in ``_proxy``, then real connections to a real server."""

from __future__ import annotations

import logging
import os
import socket
import tempfile

import httpx
import pytest
from server_support import serve

from pyre.server import Config
from pyre.server._proxy import TrustedProxies, forwarded, parse_element, parse_node
from pyre.spec import Request, Response

LOCAL = TrustedProxies("127.0.0.1,::1")


def resolve(*headers: tuple[bytes, bytes], trusted: TrustedProxies = LOCAL) -> object:
    return forwarded(list(headers), trusted)


# Trust


def test_trusted_addresses_and_networks() -> None:
    proxies = TrustedProxies(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32")
    assert proxies.trusts("10.200.3.4")
    assert proxies.trusts("192.168.1.7")
    assert not proxies.trusts("192.168.1.8")
    assert proxies.trusts("2001:db8::42")
    assert proxies.trusts("::ffff:10.1.1.1")  # an IPv4 peer on a dual-stack socket
    assert not proxies.trusts("unknown")
    assert not proxies.trusts("_hidden")
    assert not proxies.trusts("")


def test_star_trusts_everyone() -> None:
    proxies = TrustedProxies("*")
    assert proxies.trusts("203.0.113.9")
    assert proxies.trusts_peer(("203.0.113.9", 1), socket.AF_INET)


def test_unix_socket_peers_are_trusted() -> None:
    assert TrustedProxies("10.0.0.1").trusts_peer(None, socket.AF_UNIX)
    assert not TrustedProxies("10.0.0.1").trusts_peer(None, socket.AF_INET)
    assert not LOCAL.trusts_peer(("203.0.113.9", 4000), socket.AF_INET)
    assert LOCAL.trusts_peer(("::1", 4000), socket.AF_INET6)


@pytest.mark.parametrize("allowed", ["localhost", "10.0.0.300", "10.0.0.0/33", "/tmp/pyre.sock"])
def test_what_is_not_an_address_is_a_config_error(allowed: str) -> None:
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        Config(forwarded_allow_ips=allowed)


# X-Forwarded-*


def test_x_forwarded_single_proxy() -> None:
    assert resolve(
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"X-Forwarded-Proto", b"https"),
        (b"X-Forwarded-Host", b"example.com"),
    ) == (("203.0.113.9", 0), "https", "example.com")


def test_x_forwarded_for_walked_right_to_left_skipping_trusted() -> None:
    # The client forged the first entry; nginx (127.0.0.1 chain) appended the real one.
    assert resolve((b"x-forwarded-for", b"6.6.6.6, 203.0.113.9, 127.0.0.1"))[0] == ("203.0.113.9", 0)  # type: ignore[index]


def test_x_forwarded_for_lines_combine() -> None:
    assert resolve((b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"203.0.113.9, ::1"))[0] == (  # type: ignore[index]
        "203.0.113.9",
        0,
    )


def test_x_forwarded_for_all_trusted_is_the_leftmost() -> None:
    assert resolve((b"x-forwarded-for", b"127.0.0.1, ::1"))[0] == ("127.0.0.1", 0)  # type: ignore[index]
    assert resolve((b"x-forwarded-for", b"1.1.1.1, 2.2.2.2"), trusted=TrustedProxies("*"))[0] == (
        "1.1.1.1",
        0,
    )  # type: ignore[index]


def test_x_forwarded_for_ports_and_ipv6() -> None:
    assert resolve((b"x-forwarded-for", b"203.0.113.9:4711"))[0] == ("203.0.113.9", 4711)  # type: ignore[index]
    assert resolve((b"x-forwarded-for", b"2001:db8::1"))[0] == ("2001:db8::1", 0)  # type: ignore[index]
    assert resolve((b"x-forwarded-for", b"[2001:db8::1]:80"))[0] == ("2001:db8::1", 80)  # type: ignore[index]
    assert resolve((b"x-forwarded-for", b"unknown"))[0] == ("unknown", 0)  # type: ignore[index]


@pytest.mark.parametrize(
    "value", [b"", b" , ", b"evil.example", b"1.2.3", b"1.2.3.4:99999x", b"[::1", b"300.1.1.1", b"<script>"]
)
def test_malformed_x_forwarded_for_is_ignored(value: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "pyre.server.error"):
        assert resolve((b"x-forwarded-for", value)) == (None, None, None)


def test_garbage_left_of_the_client_is_never_read() -> None:
    assert resolve((b"x-forwarded-for", b"not an address, 203.0.113.9"))[0] == ("203.0.113.9", 0)  # type: ignore[index]


def test_x_forwarded_proto_and_host_values() -> None:
    assert resolve((b"x-forwarded-proto", b"HTTPS")) == (None, "https", None)
    assert resolve((b"x-forwarded-proto", b"wss")) == (None, "https", None)
    assert resolve((b"x-forwarded-proto", b"gopher")) == (None, None, None)
    assert resolve((b"x-forwarded-host", b"example.com:8443")) == (None, None, "example.com:8443")
    assert resolve((b"x-forwarded-host", b"[2001:db8::1]:8443")) == (None, None, "[2001:db8::1]:8443")
    assert resolve((b"x-forwarded-host", b"evil.com/path")) == (None, None, None)
    assert resolve((b"x-forwarded-host", b"a b")) == (None, None, None)


def test_x_forwarded_proto_list_follows_the_client_hop() -> None:
    # Two proxies each recorded what they received: the edge saw https, the inner one http.
    assert resolve(
        (b"x-forwarded-for", b"203.0.113.9, 127.0.0.1"), (b"x-forwarded-proto", b"https, http")
    ) == (("203.0.113.9", 0), "https", None)


def test_x_forwarded_wins_over_forwarded() -> None:
    # nginx set X-Forwarded-*, and passed the client's own Forwarded through.
    assert resolve(
        (b"forwarded", b"for=6.6.6.6;proto=https;host=evil.example"),
        (b"x-forwarded-for", b"203.0.113.9"),
    ) == (("203.0.113.9", 0), None, None)


# Forwarded (RFC 7239)


def test_forwarded_examples_from_rfc_7239() -> None:
    assert resolve((b"Forwarded", b'for="_gazonk"')) == (("_gazonk", 0), None, None)
    assert resolve((b"Forwarded", b'For="[2001:db8:cafe::17]:4711"')) == (
        ("2001:db8:cafe::17", 4711),
        None,
        None,
    )
    assert resolve((b"Forwarded", b"for=192.0.2.60;proto=http;by=203.0.113.43")) == (
        ("192.0.2.60", 0),
        "http",
        None,
    )
    assert resolve((b"Forwarded", b"for=192.0.2.43, for=198.51.100.17")) == (("198.51.100.17", 0), None, None)
    assert resolve((b"Forwarded", b"for=unknown;proto=https")) == (("unknown", 0), "https", None)
    assert resolve((b"Forwarded", b'for="_hidden:_port"')) == (("_hidden", 0), None, None)


def test_forwarded_walks_right_to_left_and_takes_that_elements_proto_and_host() -> None:
    value = (
        b'for=6.6.6.6;proto=http, for=203.0.113.9;proto=https;host="example.com", for=127.0.0.1;proto=http'
    )
    assert resolve((b"forwarded", value)) == (("203.0.113.9", 0), "https", "example.com")


def test_forwarded_quoted_strings() -> None:
    assert resolve((b"forwarded", b'for="203.0.113.9";host="a example";proto="https"')) == (
        ("203.0.113.9", 0),
        "https",
        None,  # "a example" is not a host
    )
    assert resolve((b"forwarded", b'for=1.1.1.1;ext="x, for=6.6.6.6", for=127.0.0.1')) == (
        ("1.1.1.1", 0),
        None,
        None,
    )
    assert parse_element(b'for="1.2.3.4";ext="a;b\\"c"') == {"for": "1.2.3.4", "ext": 'a;b"c'}


@pytest.mark.parametrize(
    "value",
    [
        b"for",
        b"for=",
        b'for="203.0.113.9',  # unterminated quoted string
        b"for=203.0.113.9;for=1.1.1.1",  # a parameter twice
        b"for=[2001:db8::1]",  # brackets are not token characters: must be quoted
        b"for=evil.example",
        b'for="1.2.3.4:99999"',
        b"for = 1.2.3.4",
        b"for=1.2.3.4 x",
    ],
)
def test_malformed_forwarded_is_ignored(value: bytes) -> None:
    assert resolve((b"forwarded", value)) == (None, None, None)


def test_nodes() -> None:
    assert parse_node("192.0.2.60:8080") == ("192.0.2.60", 8080)
    assert parse_node("[::1]") == ("::1", 0)
    assert parse_node("::1") is None  # IPv6 goes in brackets
    assert parse_node("[1.2.3.4]") is None
    assert parse_node("_a.b-c_d") == ("_a.b-c_d", 0)


def test_no_proxy_headers() -> None:
    assert resolve((b"host", b"example.com"), (b"x-request-id", b"1")) == (None, None, None)


# Real connections


async def report(request: Request) -> Response:
    client = request.client
    text = (
        f"{client[0]}:{client[1]} {request.scheme} {request.authority}" if client else f"- {request.scheme}"
    )
    return Response(200, [(b"content-type", b"text/plain")], text.encode())


FORGED = {"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example"}


async def test_a_trusted_peer_is_believed() -> None:
    async with serve(report) as server, httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/", headers=FORGED)
    assert response.text == "6.6.6.6:0 https evil.example"


async def test_an_untrusted_peer_is_not() -> None:
    async with serve(report, forwarded_allow_ips="10.0.0.1") as server, httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/", headers=FORGED)
        assert response.text.startswith("127.0.0.1:")
        assert response.text.endswith(f" http 127.0.0.1:{server.port}")


async def test_no_proxy_headers_switch() -> None:
    async with serve(report, proxy_headers=False) as server, httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/", headers=FORGED)
        assert response.text.endswith(f" http 127.0.0.1:{server.port}")


async def test_malformed_headers_from_a_trusted_peer_are_not_an_error() -> None:
    async with serve(report) as server, httpx.AsyncClient() as client:
        for headers in (
            {"x-forwarded-for": "1.2.3.4.5", "x-forwarded-proto": "ftp", "x-forwarded-host": "a/b"},
            {"forwarded": 'for="unterminated'},
            {"forwarded": "for=1.2.3.4;for=5.6.7.8"},
        ):
            response = await client.get(f"http://127.0.0.1:{server.port}/", headers=headers)
            assert response.status_code == 200
            assert response.text.startswith("127.0.0.1:")


async def test_each_request_on_a_connection_is_read_on_its_own() -> None:
    async with serve(report) as server, httpx.AsyncClient() as client:
        first = await client.get(
            f"http://127.0.0.1:{server.port}/", headers={"x-forwarded-for": "203.0.113.1"}
        )
        second = await client.get(f"http://127.0.0.1:{server.port}/")
    assert first.text.startswith("203.0.113.1:0 ")
    assert second.text.startswith("127.0.0.1:")


async def test_the_access_log_names_the_forwarded_client(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "pyre.server.access"):
        async with serve(report, access_log=True) as server, httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{server.port}/", headers={"x-forwarded-for": "203.0.113.1"})
    assert any(record.getMessage().startswith("203.0.113.1:0 - ") for record in caplog.records)


async def test_a_unix_socket_peer_is_trusted() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "pyre.sock")
        async with (
            serve(report, uds=path, forwarded_allow_ips="10.0.0.1") as _,
            httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path)) as client,
        ):
            response = await client.get("http://pyre/", headers=FORGED)
    assert response.text == "6.6.6.6:0 https evil.example"


async def test_headers_pass_to_the_app_unchanged() -> None:
    async def headers(request: Request) -> Response:
        return Response(200, [], repr(sorted(request.headers)).encode())

    async with serve(headers) as server, httpx.AsyncClient() as client:
        response = await client.get(
            f"http://127.0.0.1:{server.port}/", headers={"x-forwarded-host": "a.example"}
        )
        assert "('x-forwarded-host', 'a.example')" in response.text
        assert f"('host', '127.0.0.1:{server.port}')" in response.text


def test_the_parse_caches_stay_bounded() -> None:
    proxies = TrustedProxies("127.0.0.1")
    for n in range(5000):
        entry = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}".encode()
        assert forwarded([(b"x-forwarded-for", entry)], proxies)[0] == (entry.decode(), 0)
    assert len(proxies._x_nodes) <= 4096
    assert len(proxies._verdicts) <= 4096


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
async def test_the_ipv6_loopback_is_trusted_by_default() -> None:
    async with serve(report, host="::1") as server, httpx.AsyncClient() as client:
        response = await client.get(f"http://[::1]:{server.port}/", headers=FORGED)
    assert response.text == "6.6.6.6:0 https evil.example"
