# ruff: noqa: E501 - the lists hold test ids as pytest spells them, longer than a line.
"""pytest plugin: Starlette's own test suite, with its TestClient talking to a live server.

Starlette's ``TestClient`` calls the ASGI app in-process. This plugin replaces
``starlette.testclient.TestClient`` with ``LiveTestClient``, which keeps its constructor
and its use as a context manager but serves the app on the server named by
``INTEROP_SERVER`` (``pyre``: pyre-server through pyre-asgi; ``uvicorn``: for comparison)
and sends every request over a real socket with the same httpx client:

- URLs keep their host (``http://testserver``): the request goes to 127.0.0.1 on the live
  server's port with the ``Host`` header the URL gives, so the app sees the same URL, and
  the client (redirects, cookies, ``response.url``) sees the URL the test asked for.
- ``with client:`` starts the server with the ASGI lifespan and stops it on exit, as
  TestClient runs lifespan; a client used without ``with`` starts a server without
  lifespan on its first request, stopped when the test ends.
- ``root_path=`` becomes the server's root path (uvicorn ``--root-path``, pyre
  ``root_path``).

- ``websocket_connect`` opens a real WebSocket with the ``websockets`` client (``LiveWebSocket``
  has the session's methods); a refused handshake raises ``WebSocketDenialResponse``.

What a live server cannot do is listed in ``EXPECTED`` (fails on both servers) with the
reason. The trio variants, TestClient's own tests and the tests whose outcome is a race on
any live server (``DESELECTED``) are deselected. ``EXPECTED_ON_PYRE`` lists the
differences between uvicorn and pyre that are not defects, ``AWAITING_FIX_ON_PYRE`` the
open defects. Run through ``python -m interop starlette``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import starlette.testclient as testclient
import websockets.exceptions
import websockets.sync.client
from starlette.websockets import WebSocketDisconnect

from interop._expected import apply_expected
from interop._live import LiveServer

SERVER = os.environ.get("INTEROP_SERVER", "pyre")
# The httpx the suite uses: httpx2 when installed, else httpx, as starlette.testclient does.
httpx = testclient.httpx

# TestClient's own tests exercise its in-process machinery (portals, the ASGI transport).
DESELECTED_MODULES = {"tests/test_testclient.py"}

# What a live server cannot do that TestClient does, one reason each.
RAISED = (
    "expects the app's exception raised into the test (TestClient re-raises it); "
    "a live server logs it and answers 500"
)
STARTUP = "expects the app's lifespan startup exception raised into the test; a live server logs it"
TRAILERS = "reads trailers from TestClient's http.response.trailers extension; httpx over a socket has none"
DEBUG = "reads response.template from TestClient's http.response.debug extension, offered in-process only"
UNSENDABLE = "sends a request httpx refuses to put on the wire (whitespace around a header value, or body over Content-Length)"
HTTPS = "uses an https:// URL; the live server speaks plain HTTP"
PORT = "expects TestClient's scope server port 80; a live server listens on its own port"
ROOT_PATH = (
    "TestClient(root_path=) sets scope root_path and leaves the path alone; a server's root "
    "path is a proxy prefix put in front of the path the client sends (uvicorn --root-path, "
    "pyre root_path, ASGI spec)"
)
EMPTY_500 = "expects TestClient's empty 500 when the app sent nothing; a server sends its own error body"
STATUS_123 = "the app sends status 123 as a final response: uvicorn writes a malformed status line, pyre a 500 (1xx are interim only)"
CONTEXT = "reads a context variable the test thread set; the live server runs in a thread of its own"
PUSH = "uses TestClient's http.response.push extension, which neither server offers over HTTP/1.1"
ROOT_USER = "expects a directory with mode 000 to be unreadable, which it is not to root"
WS_RAISED = (
    "expects the app's exception in a WebSocket handler raised into the test; a live server "
    "logs it and refuses the handshake (500) or closes the connection"
)
WS_CLOSE_CODE = (
    "reads the close code of a close before accept; on the wire that is an HTTP 403 refusal "
    "(ASGI spec), which has no close code"
)
WS_ASGI_MESSAGE = (
    "sends the app a raw ASGI message (a second websocket.connect) that no client can send over a socket"
)
HEADER_CASE = "compares header-name case, which HTTP/1.1 does not keep (both servers send it lowercase)"
# Tests whose outcome on a live server is a race, so neither pass nor xfail is reliable.
RACE_BACKGROUND = (
    "checks a background task's effect as soon as the response arrives; on a live server the "
    "task runs after the client has the response"
)
RACE_ANY_EXCEPTION = (
    "expects any exception from a failing app; a live client sees a 500 or, when the "
    "connection drops first, an httpx error, depending on timing"
)

DESELECTED: dict[str, str] = {
    "tests/middleware/test_errors.py::test_background_task[asyncio]": RACE_BACKGROUND,
    "tests/test_background.py::test_multiple_tasks[asyncio]": RACE_BACKGROUND,
    "tests/test_background.py::test_sync_task[asyncio]": RACE_BACKGROUND,
    "tests/test_responses.py::test_file_response[asyncio]": RACE_BACKGROUND,
    "tests/test_requests.py::test_request_send_push_promise_without_setting_send[asyncio]": RACE_BACKGROUND,
    "tests/middleware/test_base.py::test_custom_middleware[asyncio]": RACE_ANY_EXCEPTION,
    "tests/middleware/test_base.py::test_error_context_propagation[asyncio]": RACE_ANY_EXCEPTION,
    "tests/test_background.py::test_multi_tasks_failure_avoids_next_execution[asyncio]": RACE_ANY_EXCEPTION,
    "tests/test_routing.py::test_exception_on_mounted_apps[asyncio]": RACE_ANY_EXCEPTION,
}

# Tests that fail on every live server.
EXPECTED: dict[str, str] = {
    "tests/middleware/test_base.py::test_run_background_tasks_raise_exceptions[asyncio]": RAISED,
    "tests/middleware/test_body_limit.py::test_received_bytes_are_counted_with_unreliable_content_length[asyncio]": UNSENDABLE,
    "tests/middleware/test_errors.py::test_debug_after_response_sent[asyncio]": RAISED,
    "tests/middleware/test_errors.py::test_debug_not_http[asyncio]": WS_RAISED,
    "tests/middleware/test_gzip.py::test_gzip_excluded_content_type_trailers[asyncio]": TRAILERS,
    "tests/middleware/test_gzip.py::test_gzip_trailers[asyncio-False-gzip]": TRAILERS,
    "tests/middleware/test_gzip.py::test_gzip_trailers[asyncio-False-identity]": TRAILERS,
    "tests/middleware/test_gzip.py::test_gzip_trailers[asyncio-True-gzip]": TRAILERS,
    "tests/middleware/test_gzip.py::test_gzip_trailers[asyncio-True-identity]": TRAILERS,
    "tests/middleware/test_https_redirect.py::test_https_redirect_middleware[asyncio]": HTTPS,
    "tests/middleware/test_opentelemetry.py::test_http_span_uses_route_and_semantic_attributes[asyncio]": PORT,
    "tests/middleware/test_trusted_host.py::test_www_redirect[asyncio]": HTTPS,
    "tests/middleware/test_wsgi.py::test_wsgi_exc_info[asyncio]": RAISED,
    "tests/middleware/test_wsgi.py::test_wsgi_exception[asyncio]": RAISED,
    "tests/test_concurrency.py::test_accessing_context_from_threaded_sync_endpoint[asyncio]": CONTEXT,
    "tests/test_endpoints.py::test_websocket_endpoint_on_receive_bytes[asyncio]": WS_RAISED,
    "tests/test_endpoints.py::test_websocket_endpoint_on_receive_json[asyncio]": WS_RAISED,
    "tests/test_endpoints.py::test_websocket_endpoint_on_receive_text[asyncio]": WS_RAISED,
    "tests/test_exceptions.py::test_force_500_response[asyncio]": EMPTY_500,
    "tests/test_exceptions.py::test_handled_exc_after_response[asyncio]": RAISED,
    "tests/test_exceptions.py::test_websockets_should_raise[asyncio]": WS_RAISED,
    "tests/test_formparsers.py::test_max_fields_is_customizable_low_raises[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_max_files_is_customizable_low_raises[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_max_part_size_exceeds_custom_limit[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_max_part_size_exceeds_limit[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_missing_boundary_parameter[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_missing_name_parameter_on_content_disposition[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_multipart_boundary_exceeds_limit[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_multipart_closes_tempfile_on_oserror[asyncio]": RAISED,
    "tests/test_formparsers.py::test_multipart_headers_exceed_limit[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_too_many_fields_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_too_many_files_and_fields_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_too_many_files_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_too_many_files_single_field_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_urlencoded_field_exceeds_max_part_size_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_urlencoded_field_name_exceeds_max_part_size_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_urlencoded_max_fields_is_customizable[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_urlencoded_max_part_size_is_customizable[asyncio-app-expectation0]": RAISED,
    "tests/test_formparsers.py::test_urlencoded_too_many_fields_raise[asyncio-app-expectation0]": RAISED,
    "tests/test_requests.py::test_cookies_invalid[asyncio-  =  b  ;  ;  =  ;   c  =  ;  -expected4]": UNSENDABLE,
    "tests/test_requests.py::test_request_send_push_promise[asyncio]": PUSH,
    "tests/test_requests.py::test_request_url[asyncio]": HTTPS,
    "tests/test_requests.py::test_request_url_outside_starlette_context[asyncio]": RAISED,
    "tests/test_responses.py::test_file_response_with_directory_raises_error[asyncio]": RAISED,
    "tests/test_responses.py::test_file_response_with_missing_file_raises_error[asyncio]": RAISED,
    "tests/test_responses.py::test_response_phrase[asyncio]": STATUS_123,
    "tests/test_routing.py::test_lifespan_state_unsupported[asyncio]": STARTUP,
    "tests/test_routing.py::test_paths_with_root_path[asyncio]": ROOT_PATH,
    "tests/test_routing.py::test_raise_on_shutdown[asyncio]": RAISED,
    "tests/test_routing.py::test_raise_on_startup[asyncio]": STARTUP,
    "tests/test_routing.py::test_url_for_with_root_path[asyncio]": ROOT_PATH,
    "tests/test_routing.py::test_url_for_with_root_path_ending_with_slash[asyncio]": ROOT_PATH,
    "tests/test_routing.py::test_websocket_route_middleware[asyncio]": HEADER_CASE,
    "tests/test_staticfiles.py::test_staticfiles_304_with_if_none_match_wildcard[asyncio- \\t* \\t-GET]": UNSENDABLE,
    "tests/test_staticfiles.py::test_staticfiles_304_with_if_none_match_wildcard[asyncio- \\t* \\t-HEAD]": UNSENDABLE,
    "tests/test_staticfiles.py::test_staticfiles_config_check_occurs_only_once[asyncio]": RAISED,
    "tests/test_staticfiles.py::test_staticfiles_configured_with_file_instead_of_directory[asyncio]": RAISED,
    "tests/test_staticfiles.py::test_staticfiles_configured_with_missing_directory[asyncio]": RAISED,
    "tests/test_staticfiles.py::test_staticfiles_html_only_files[asyncio]": RAISED,
    "tests/test_staticfiles.py::test_staticfiles_html_without_404[asyncio]": RAISED,
    "tests/test_staticfiles.py::test_staticfiles_websocket[asyncio]": WS_CLOSE_CODE,
    "tests/test_staticfiles.py::test_staticfiles_with_invalid_dir_permissions_returns_401[asyncio]": ROOT_USER,
    "tests/test_templates.py::test_calls_context_processors[asyncio]": DEBUG,
    "tests/test_templates.py::test_template_with_middleware[asyncio]": DEBUG,
    "tests/test_templates.py::test_templates[asyncio]": DEBUG,
    "tests/test_templates.py::test_templates_with_directories[asyncio]": DEBUG,
    "tests/test_templates.py::test_templates_with_environment[asyncio]": DEBUG,
    "tests/test_websockets.py::test_duplicate_close[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_duplicate_disconnect[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_receive_before_accept[asyncio]": WS_ASGI_MESSAGE,
    "tests/test_websockets.py::test_receive_bytes_before_accept[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_receive_json_before_accept[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_receive_json_invalid_mode[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_receive_text_before_accept[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_receive_wrong_message_type[asyncio]": WS_ASGI_MESSAGE,
    "tests/test_websockets.py::test_rejected_connection[asyncio]": WS_CLOSE_CODE,
    "tests/test_websockets.py::test_send_before_accept[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_send_json_invalid_mode[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_send_response_duplicate_start[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_send_response_unsupported[asyncio]": WS_CLOSE_CODE,
    "tests/test_websockets.py::test_send_wrong_message_type[asyncio]": WS_RAISED,
    "tests/test_websockets.py::test_websocket_exception[asyncio]": WS_RAISED,
}

# Tests that fail on pyre and pass on uvicorn, where pyre is right.
CONTENT_LENGTH = (
    "expects chunked framing of a streamed response the app finished in one step; pyre sends "
    "it with Content-Length, which RFC 9112 section 6 allows as well"
)
EXPECTED_ON_PYRE: dict[str, str] = {
    "tests/middleware/test_gzip.py::test_gzip_ignored_for_responses_with_encoding_set[asyncio]": CONTENT_LENGTH,
    "tests/middleware/test_gzip.py::test_gzip_ignored_on_server_sent_events[asyncio]": CONTENT_LENGTH,
    "tests/middleware/test_gzip.py::test_gzip_streaming_response[asyncio]": CONTENT_LENGTH,
    "tests/middleware/test_gzip.py::test_gzip_streaming_response_emits_output_per_chunk[asyncio]": CONTENT_LENGTH,
    "tests/middleware/test_gzip.py::test_gzip_streaming_response_identity[asyncio]": CONTENT_LENGTH,
    "tests/test_routing.py::test_host_routing_rejects_invalid_hosts[asyncio-api.example.org:evil]": (
        "sends Host: api.example.org:evil; pyre answers 400 as RFC 9112 section 3.2 requires for "
        "an invalid Host, the test expects the app to see it (404)"
    ),
}
# Tests that fail on uvicorn and pass on pyre (for the comparison run only).
EXPECTED_ON_UVICORN: dict[str, str] = {
    "tests/test_endpoints.py::test_http_endpoint_does_not_dispatch_non_verb_method[asyncio]": (
        "uvicorn answers 400 to the method _DO_DELETE before the app; pyre passes it on (405)"
    ),
}
# Tests that fail on pyre because of an open defect: xfail(strict=False) until the fix
# lands, then removed from here.
AWAITING_FIX_ON_PYRE: dict[str, str] = {}

# Servers started by a client's first request outside ``with``, stopped at test end.
_started_lazily: list[tuple[LiveServer, Any]] = []


class _ToLiveServer(httpx.BaseTransport):  # type: ignore[misc]
    """Sends each request to the live server, keeping the URL's Host header."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self._http = httpx.HTTPTransport()

    def handle_request(self, request: Any) -> Any:
        if not self.live.running:
            self.live.start()
            _started_lazily.append((self.live, self))
        url = request.url
        request.url = url.copy_with(scheme="http", host="127.0.0.1", port=self.live.port)
        try:
            return self._http.handle_request(request)
        finally:
            # Redirects, cookies and response.url read the URL the test asked for.
            request.url = url

    def close(self) -> None:
        self._http.close()


class LiveTestClient(httpx.Client):  # type: ignore[misc]
    """``starlette.testclient.TestClient``'s constructor and context manager, on a live server.

    ``raise_server_exceptions``, ``backend``, ``backend_options`` and ``client`` cannot
    apply to a live server and are accepted only so the suite's calls stay unchanged.
    """

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: str = "asyncio",
        backend_options: dict[str, Any] | None = None,
        cookies: Any = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        # The same ASGI 3 app TestClient would call.
        self.app = app if testclient._is_asgi3(app) else testclient._WrapASGI2(app)
        self.live = LiveServer(self.app, SERVER, lifespan=False, root_path=root_path)
        headers = {} if headers is None else headers
        headers.setdefault("user-agent", "testclient")
        super().__init__(
            base_url=base_url,
            headers=headers,
            transport=_ToLiveServer(self.live),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    def websocket_connect(
        self,
        url: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> LiveWebSocket:
        if not self.live.running:
            self.live.start()
            _started_lazily.append((self.live, self._transport))
        headers = dict(headers or {})
        if auth is not None:
            request = httpx.Request("GET", url)
            headers["authorization"] = next(httpx.BasicAuth(*auth).auth_flow(request)).headers[
                "authorization"
            ]
        # The URL the app sees is the test's (host testserver); the socket goes to the server.
        return LiveWebSocket(urljoin("ws://testserver", url), self.live.port, subprotocols, headers)

    def __enter__(self) -> LiveTestClient:
        self.live.stop()
        self.live.lifespan = True
        self.live.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._transport.close()  # idle keep-alive connections, so the server stops at once
        self.live.stop()
        self.live.lifespan = False


# What a server puts in a 101 itself (RFC 6455 section 4.2.2, RFC 9110 section 6.6).
_HANDSHAKE_HEADERS = frozenset(
    {"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "date", "server"}
)


class LiveWebSocket:
    """``WebSocketTestSession``'s methods over a real WebSocket (the ``websockets`` client).

    A close from the server is what ``receive()`` returns as ``websocket.close``, and what
    ``receive_text()`` and the like raise as ``WebSocketDisconnect``, as in TestClient.
    """

    def __init__(self, url: str, port: int, subprotocols: list[str] | None, headers: dict[str, str]) -> None:
        self._url = url
        self._port = port
        self._subprotocols = subprotocols
        self._headers = headers
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] | None = None

    def __enter__(self) -> LiveWebSocket:
        """The handshake, as TestClient's session makes it on entry."""
        sock = socket.create_connection(("127.0.0.1", self._port))
        try:
            connect = websockets.sync.client.connect(
                self._url,
                sock=sock,
                subprotocols=self._subprotocols,  # type: ignore[arg-type]
                additional_headers=self._headers,
                user_agent_header="testclient",
                compression=None,
                open_timeout=10,
                close_timeout=5,
            )
        except websockets.exceptions.InvalidStatus as refused:
            sock.close()
            response = refused.response
            raise testclient.WebSocketDenialResponse(
                status_code=response.status_code,
                headers=list(response.headers.raw_items()),
                content=bytes(response.body),
            ) from None
        except BaseException:
            sock.close()
            raise
        self._connection = connect.__enter__()
        self.accepted_subprotocol = self._connection.subprotocol
        if self._connection.response is not None:
            # The headers the app gave websocket.accept: the 101's, less the server's own.
            self.extra_headers = [
                (name.encode(), value.encode())
                for name, value in self._connection.response.headers.raw_items()
                if name.lower() not in _HANDSHAKE_HEADERS
            ]
        return self

    def __exit__(self, *args: object) -> None:
        self._connection.close()

    def send(self, message: dict[str, Any]) -> None:
        """An ASGI message as the app would receive it: ``websocket.receive`` or ``.disconnect``."""
        if message["type"] == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason"))
        elif message.get("text") is not None:
            self._connection.send(message["text"])
        else:
            self._connection.send(message["bytes"])

    def send_text(self, data: str) -> None:
        self._connection.send(data)

    def send_bytes(self, data: bytes) -> None:
        self._connection.send(data)

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self._connection.send(text if mode == "text" else text.encode())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self._connection.close(code, reason or "")

    def receive(self) -> dict[str, Any]:
        try:
            data = self._connection.recv()
        except websockets.exceptions.ConnectionClosed as closed:
            frame = closed.rcvd
            code, reason = (frame.code, frame.reason) if frame is not None else (1006, "")
            return {"type": "websocket.close", "code": code, "reason": reason}
        if isinstance(data, str):
            return {"type": "websocket.send", "text": data}
        return {"type": "websocket.send", "bytes": data}

    def receive_text(self) -> str:
        return str(self._data(self.receive(), "text"))

    def receive_bytes(self) -> bytes:
        return bytes(self._data(self.receive(), "bytes"))

    def receive_json(self, mode: str = "text") -> Any:
        message = self.receive()
        data = self._data(message, "text" if mode == "text" else "bytes")
        return json.loads(data if mode == "text" else data.decode())

    @staticmethod
    def _data(message: dict[str, Any], key: str) -> Any:
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(code=message["code"], reason=message["reason"])
        return message[key]


testclient.TestClient = LiveTestClient  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _stop_lazily_started_servers() -> Iterator[None]:
    yield
    while _started_lazily:
        live, transport = _started_lazily.pop()
        transport.close()
        live.stop()


def _deselected(item: pytest.Item) -> bool:
    # The live server runs on asyncio whichever backend the client side of a test uses,
    # so a test's trio variant repeats its asyncio one.
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if backend == "trio" or (isinstance(backend, tuple) and backend[0] == "trio"):
        return True
    return item.nodeid.split("::")[0] in DESELECTED_MODULES or item.nodeid in DESELECTED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselected = [item for item in items if _deselected(item)]
    config.hook.pytest_deselected(items=deselected)
    items[:] = [item for item in items if item not in deselected]
    if SERVER == "pyre":
        apply_expected(items, EXPECTED | EXPECTED_ON_PYRE, AWAITING_FIX_ON_PYRE)
    else:
        apply_expected(items, EXPECTED | EXPECTED_ON_UVICORN, {})
