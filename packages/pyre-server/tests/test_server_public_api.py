"""The public surface of pyre-server beyond ``__all__``: every ``Config`` field with its
default, the ``Server`` methods, and the gunicorn worker.  Changing one must be deliberate:
each is a documented setting (a flag and a ``PYRE_*`` variable) or a call users make."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import pyre.server
from pyre.server import Config, Server

CONFIG_DEFAULTS: dict[str, object] = {
    "host": "127.0.0.1",
    "port": 8000,
    "uds": None,
    "fd": None,
    "backlog": 2048,
    "root_path": "",
    "access_log": True,
    "server_header": True,
    "limit_request_line": 8190,
    "limit_header_size": 32768,
    "limit_header_count": 100,
    "limit_body_size": 16 * 1024 * 1024,
    "timeout_keep_alive": 5.0,
    "timeout_header": 10.0,
    "timeout_body": 30.0,
    "limit_body_rate": 500,
    "timeout_send": 30.0,
    "timeout_drain": 30.0,
    "proxy_headers": True,
    "forwarded_allow_ips": "127.0.0.1,::1",
    "workers": None,
    "timeout_worker_healthcheck": 5.0,
    "limit_max_requests": None,
    "limit_max_requests_jitter": 0,
    "limit_header_field_size": None,
    "limit_concurrency": None,
    "ssl_certfile": None,
    "ssl_keyfile": None,
    "ssl_keyfile_password": None,
    "ssl_version": 17,
    "ssl_cert_reqs": 0,
    "ssl_ca_certs": None,
    "ssl_ciphers": None,
    "date_header": True,
    "headers": (),
    "lifespan": "auto",
    # HTTP/2
    "http": "auto",
    "h2c": False,
    "h2_max_concurrent_streams": 100,
    "h2_header_table_size": 4096,
    "h2_max_resets": 200,
    "h2_max_control_frames": 200,
}


def test_config_fields_and_defaults_are_exactly_the_documented_ones() -> None:
    fields = {field.name: field.default for field in dataclasses.fields(Config)}
    assert fields == CONFIG_DEFAULTS


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit_request_line", 0),
        ("timeout_send", 0),
        ("limit_body_rate", -1),
        ("port", 65536),
        ("lifespan", "maybe"),
        ("limit_concurrency", 0),
        ("ssl_keyfile", "key.pem"),  # without ssl_certfile
        ("forwarded_allow_ips", "not-an-address"),
        ("http", "3"),
        ("h2_max_concurrent_streams", 0),
    ],
)
def test_config_refuses_a_bad_value_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})  # type: ignore[arg-type]


def test_server_methods_and_properties() -> None:
    public = {name for name, _ in inspect.getmembers(Server) if not name.startswith("_")}
    assert public == {"cancel_requests", "port", "sockets", "start", "stop"}
    assert {"__aenter__", "__aexit__"} <= set(vars(Server))
    server = Server(lambda request: None)  # type: ignore[arg-type, return-value]
    assert server.config == Config()
    assert server.request_limit is None
    assert not server.limit_reached.is_set()


def test_run_takes_the_app_a_config_and_config_fields() -> None:
    parameters = inspect.signature(pyre.server.run).parameters
    assert list(parameters) == ["app", "config", "options"]
    assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD


def test_gunicorn_worker_is_the_only_export() -> None:
    pytest.importorskip("gunicorn")
    import pyre.server.gunicorn

    assert pyre.server.gunicorn.__all__ == ["PyreWorker"]
    assert pyre.server.gunicorn.PyreWorker.__module__ == "pyre.server.gunicorn"
