"""Proxy headers, uvicorn against pyre-server, each with its own defaults, on a Starlette app.

The same requests (from 127.0.0.1, which both trust by default) with the same forwarding
headers must give the app the same client, scheme and URLs: a uvicorn deployment behind a proxy
moves to pyre-server unchanged, FastAPI's and Starlette's ``https://`` links included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_apps.servers import Running, serve

CASES: dict[str, dict[str, str]] = {
    "none": {},
    "one proxy": {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"},
    "a port": {"x-forwarded-for": "203.0.113.9:4711"},
    "a chain": {"x-forwarded-for": "6.6.6.6, 203.0.113.9, 127.0.0.1"},
    "nonsense proto": {"x-forwarded-proto": "gopher"},
    # pyre-server applies X-Forwarded-Host to request.authority only: Host, which Starlette's
    # URLs are built from, reaches the ASGI app unchanged, as on uvicorn.
    "a forwarded host": {"x-forwarded-for": "203.0.113.9", "x-forwarded-host": "evil.example"},
}


@pytest.fixture(scope="module", params=[[], ["--forwarded-allow-ips", "10.0.0.1"], ["--no-proxy-headers"]])
def both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Running]]:
    logs = tmp_path_factory.mktemp("logs")
    with (
        serve("uvicorn", "asgi_apps.proxied:app", logs, request.param) as uvicorn,
        serve("pyre", "asgi_apps.proxied:app", logs, request.param) as pyre,
    ):
        yield {"uvicorn": uvicorn, "pyre": pyre}


def seen(running: Running, headers: dict[str, str]) -> dict[str, Any]:
    reply = running.request("GET", "/whoami", headers={"Host": "example.com", **headers})
    assert reply.status == 200, running.output()
    result: dict[str, Any] = json.loads(reply.body)
    if result["client"] and result["client"][0] == "127.0.0.1":
        result["client"][1] = "a port of its own"  # the direct peer's ephemeral port
    return result


@pytest.mark.parametrize("case", CASES)
def test_the_app_is_told_the_same(both: dict[str, Running], case: str) -> None:
    assert seen(both["pyre"], CASES[case]) == seen(both["uvicorn"], CASES[case])


def test_https_links_behind_an_https_proxy(both: dict[str, Running], request: pytest.FixtureRequest) -> None:
    result = seen(both["pyre"], CASES["one proxy"])
    believed = request.node.callspec.params["both"] == []
    assert result["url_for"] == ("https" if believed else "http") + "://example.com/whoami"
    assert result["client"][0] == ("203.0.113.9" if believed else "127.0.0.1")


def test_forwarded_is_read_by_pyre_server_only(
    both: dict[str, Running], request: pytest.FixtureRequest
) -> None:
    headers = {"forwarded": 'for="[2001:db8::7]:4711";proto=https'}
    result = seen(both["pyre"], headers)
    if request.node.callspec.params["both"] == []:
        assert (result["client"], result["scheme"]) == (["2001:db8::7", 4711], "https")
    else:
        assert result["scheme"] == "http"
    assert seen(both["uvicorn"], headers)["scheme"] == "http"  # uvicorn knows only X-Forwarded-*


def test_wss_on_an_http_request_is_https(both: dict[str, Running], request: pytest.FixtureRequest) -> None:
    """uvicorn puts ``wss`` in an HTTP scope (its URLs become ``wss://``); pyre-server says ``https``."""
    result = seen(both["pyre"], {"x-forwarded-proto": "wss"})
    assert result["scheme"] == ("https" if request.node.callspec.params["both"] == [] else "http")
