"""The command line: ``pyre serve MODULE:ATTR`` and ``python -m pyre.server MODULE:ATTR``.

Every flag has a ``PYRE_*`` environment variable; a flag on the command line
wins over the variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from pyre.spec import Application

from ._config import Config
from ._errors import AppLoadError, ServerError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
INTERFACES = ("auto", "pyre", "asgi")

# The first file descriptor systemd passes with socket activation.
SD_LISTEN_FDS_START = 3

# Flags that set a Config field of the same name (with dashes): (flag, type, help).
_CONFIG_FLAGS: list[tuple[str, Callable[[str], Any], str]] = [
    ("host", str, "address to bind"),
    ("port", int, "TCP port to bind; 0 picks a free one"),
    ("uds", str, "bind this Unix domain socket instead of host and port"),
    ("fd", int, "serve on this already-bound socket file descriptor"),
    ("backlog", int, "listen backlog"),
    ("root-path", str, "path prefix the app is mounted under (behind a proxy)"),
    ("limit-request-line", int, "longest request-target in bytes (414 beyond)"),
    ("limit-header-size", int, "largest header section in bytes (431 beyond)"),
    ("limit-header-count", int, "most header fields (431 beyond)"),
    ("limit-body-size", int, "largest request body in bytes (413 beyond)"),
    ("timeout-keep-alive", float, "seconds an idle keep-alive connection stays open"),
    ("timeout-header", float, "seconds to receive a request's header section (408 beyond)"),
    ("timeout-body", float, "seconds to wait for more request body while the app reads it (408 beyond)"),
    (
        "limit-body-rate",
        int,
        "lowest rate in bytes/s at which request content must arrive while the app waits (408; 0: off)",
    ),
    ("timeout-send", float, "seconds a client may read nothing of a response before it is aborted"),
    ("timeout-drain", float, "seconds in-flight requests get to finish on shutdown"),
    # TLS
    ("ssl-certfile", str, "serve HTTPS with this PEM certificate (chain)"),
    ("ssl-keyfile", str, "its PEM private key, if not in the certificate file"),
    ("ssl-keyfile-password", str, "password of an encrypted private key"),
    ("ssl-version", int, "ssl.PROTOCOL_* number (uvicorn): 17 or 2 for TLS 1.2+, 5 for TLS 1.2 only"),
    ("ssl-cert-reqs", int, "client certificate: 0 none, 1 optional, 2 required (needs --ssl-ca-certs)"),
    ("ssl-ca-certs", str, "PEM file of the CAs that client certificates are verified against"),
    ("ssl-ciphers", str, "OpenSSL cipher list for TLS 1.2; None is Python's default"),
    # Proxy headers
    (
        "forwarded-allow-ips",
        str,
        "comma-separated IPs and CIDR networks of proxies trusted with proxy headers, '*' for all; "
        "Unix-socket peers are always trusted (else $FORWARDED_ALLOW_IPS, as uvicorn)",
    ),
]
_SWITCHES: list[tuple[str, str]] = [
    ("access-log", "log one line per request to the pyre.server.access logger"),
    ("server-header", "send a 'server: pyre' header"),
    # Proxy headers
    ("proxy-headers", "take client address, scheme and host from Forwarded/X-Forwarded-* of trusted peers"),
]


def env_name(flag: str) -> str:
    return "PYRE_" + flag.upper().replace("-", "_")


def _env_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyre serve",
        description="Serve a pyre-spec (or, with pyre-asgi installed, ASGI) application over HTTP/1.1.",
        epilog="Every option can also be set with the PYRE_* environment variable shown.",
    )
    parser.add_argument("app", nargs="?", help="MODULE:ATTR of the application [PYRE_APP]")
    defaults = Config()
    for flag, kind, text in _CONFIG_FLAGS:
        default = getattr(defaults, flag.replace("-", "_"))
        parser.add_argument(
            f"--{flag}", type=kind, default=None, help=f"{text} (default: {default}) [{env_name(flag)}]"
        )
    for flag, text in _SWITCHES:
        default = getattr(defaults, flag.replace("-", "_"))
        parser.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{text} (default: {'on' if default else 'off'}) [{env_name(flag)}]",
        )
    parser.add_argument(
        "--factory",
        action="store_true",
        default=None,
        help="ATTR is a callable returning the app [PYRE_FACTORY]",
    )
    parser.add_argument(
        "--interface",
        choices=INTERFACES,
        default=None,
        help="pyre-spec app, ASGI 3 app (needs pyre-asgi), or detect (default: auto) [PYRE_INTERFACE]",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default=None, help="logging level (default: info) [PYRE_LOG_LEVEL]"
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        default=None,
        help="restart when a .py file under the current directory changes; development only [PYRE_RELOAD]",
    )
    return parser


def parse(argv: Sequence[str], environ: dict[str, str]) -> tuple[argparse.Namespace, Config]:
    """Arguments, with environment variables filling what the command line left out."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _fill_from_environment(args, environ)
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(str(error))
    if not args.app:
        parser.error("the MODULE:ATTR of an application is required")
    values = {
        field.name: getattr(args, field.name)
        for field in fields(Config)
        if getattr(args, field.name, None) is not None
    }
    try:
        config = Config(**values)
    except ValueError as error:
        parser.error(str(error))
    return args, config


def _fill_from_environment(args: argparse.Namespace, environ: dict[str, str]) -> None:
    def fill(dest: str, flag: str, convert: Callable[[str], Any]) -> None:
        value = environ.get(env_name(flag))
        if getattr(args, dest) is None and value is not None:
            try:
                setattr(args, dest, convert(value))
            except ValueError:
                raise ValueError(f"{env_name(flag)}={value!r} is not valid") from None

    fill("app", "app", str)
    for flag, kind, _ in _CONFIG_FLAGS:
        fill(flag.replace("-", "_"), flag, kind)
    for flag, _ in _SWITCHES:
        fill(flag.replace("-", "_"), flag, _env_bool)
    fill("factory", "factory", _env_bool)
    fill("reload", "reload", _env_bool)
    # Proxy headers: uvicorn's variable too, so that a uvicorn deployment's environment works.
    if args.forwarded_allow_ips is None and "FORWARDED_ALLOW_IPS" in environ:
        args.forwarded_allow_ips = environ["FORWARDED_ALLOW_IPS"]
    # systemd socket activation (sd_listen_fds(3)): one socket, passed as fd 3, for this process.
    if args.fd is None and args.uds is None and environ.get("LISTEN_PID") == str(os.getpid()):
        if environ.get("LISTEN_FDS") != "1":
            raise ValueError(
                f"LISTEN_FDS={environ.get('LISTEN_FDS')!r}: pyre-server serves exactly one socket"
            )
        args.fd = SD_LISTEN_FDS_START
    fill("interface", "interface", _choice(INTERFACES))
    fill("log_level", "log-level", _choice(LOG_LEVELS))
    args.interface = args.interface or "auto"
    args.log_level = args.log_level or "info"


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(value)
        return value.lower()

    return convert


def load_app(spec: str, *, factory: bool, interface: str) -> Application:
    """Import ``MODULE:ATTR`` (ATTR may be dotted) and adapt it to pyre-spec."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AppLoadError(f"{spec!r} is not MODULE:ATTR")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise AppLoadError(f"cannot import module {module_name!r}") from error
        raise
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if factory:
        if not callable(target):
            raise AppLoadError(f"{spec} is not callable, so cannot be a --factory")
        target = target()
    return adapt(target, interface, spec)


def adapt(target: Any, interface: str, spec: str) -> Application:
    """The app itself for a pyre-spec app; for ASGI, pyre-asgi's wrapper (imported only then).

    ``auto`` asks pyre-asgi's own detector (``pyre.asgi.is_asgi_app``), so the CLI
    and the bridge never disagree on what an ASGI app is.
    """
    if not callable(target):
        raise AppLoadError(f"{spec} is not callable, so is not an application")
    if interface == "pyre":
        return target  # type: ignore[no-any-return]
    asgi = _import_pyre_asgi()
    if asgi is None:
        if interface == "asgi" or looks_like_asgi(target):
            raise AppLoadError(f"{spec} is an ASGI application: pip install pyre-asgi to serve it")
        return target  # type: ignore[no-any-return]
    if interface == "auto" and not asgi.is_asgi_app(target):
        return target  # type: ignore[no-any-return]
    return asgi.from_asgi(target)  # type: ignore[no-any-return]


def _import_pyre_asgi() -> Any:
    """The ``pyre.asgi`` module, or None when pyre-asgi is not installed."""
    try:
        return importlib.import_module("pyre.asgi")
    except Exception as error:
        if isinstance(error, ImportError) and error.name == "pyre.asgi":
            return None
        # Installed but broken (a missing or incompatible dependency): say so, not "not installed".
        raise AppLoadError(f"pyre-asgi is installed but cannot be imported: {error!r}") from error


def looks_like_asgi(target: Any) -> bool:
    """Whether ``target`` takes ``(scope, receive, send)``: used only to say that pyre-asgi is missing."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return len(positional) == 3 or (variadic and len(positional) < 3 and len(positional) != 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyre serve`` and ``python -m pyre.server``; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        arguments = arguments[1:]
    args, config = parse(arguments, dict(os.environ))
    from ._server import configure_logging, run

    configure_logging(args.log_level)
    if args.reload:
        from ._reload import run_reloading

        return run_reloading(arguments)
    try:
        app = load_app(args.app, factory=bool(args.factory), interface=args.interface)
        run(app, config)
    except ServerError as error:
        print(f"pyre: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
