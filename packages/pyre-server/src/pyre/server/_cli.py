"""The command line: ``pyre serve MODULE:ATTR`` and ``python -m pyre.server MODULE:ATTR``.

Every flag has a ``PYRE_*`` environment variable; a flag on the command line
wins over the variable, which wins over the default.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from pyre.spec import Application

from .__about__ import __version__
from ._config import Config
from ._errors import AppLoadError, ServerError

logger = logging.getLogger("pyre.server")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# asgi3 and asgi2 are uvicorn's names: pyre-asgi serves both.
INTERFACES = ("auto", "pyre", "asgi", "asgi3", "asgi2")

# The first file descriptor systemd passes with socket activation.
SD_LISTEN_FDS_START = 3


# HTTP/2
def _http_version(value: str) -> str:
    """--http: auto, 1 or 2; uvicorn's HTTP/1.1 implementations (h11, httptools) mean 1."""
    value = value.strip().lower()
    if value in ("h11", "httptools"):
        return "1"
    if value not in ("auto", "1", "2"):
        raise ValueError(f"--http must be auto, 1 or 2, not {value!r}")
    return value


def _worker_count(value: str) -> int:
    """--workers: a number, or ``auto`` (0) for one per core."""
    return 0 if value.strip().lower() == "auto" else int(value)


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
    # Header field size
    (
        "limit-header-field-size",
        int,
        "largest header field (name + value) in bytes, 431 beyond (None: --limit-header-size only)",
    ),
    # Concurrency limit
    ("limit-concurrency", int, "most requests in progress at once; more get 503 (None: no limit)"),
    # TLS
    ("ssl-certfile", str, "serve HTTPS with this PEM certificate (chain)"),
    ("ssl-keyfile", str, "its PEM private key, if not in the certificate file"),
    ("ssl-keyfile-password", str, "password of an encrypted private key"),
    ("ssl-version", int, "ssl.PROTOCOL_* number (uvicorn): 17 or 2 for TLS 1.2+, 5 for TLS 1.2 only"),
    ("ssl-cert-reqs", int, "client certificate: 0 none, 1 optional, 2 required (needs --ssl-ca-certs)"),
    ("ssl-ca-certs", str, "PEM file of the CAs that client certificates are verified against"),
    ("ssl-ciphers", str, "OpenSSL cipher list for TLS 1.2; None is Python's default"),
    # HTTP/2
    (
        "http",
        _http_version,
        "auto: HTTP/1.1, and HTTP/2 by ALPN on TLS; 1: HTTP/1.1 only; 2: HTTP/2 only (h2c in cleartext)",
    ),
    ("h2-max-concurrent-streams", int, "HTTP/2 streams whose app runs at once per connection"),
    ("h2-header-table-size", int, "HPACK table size in bytes the client may make the server keep"),
    ("h2-max-resets", int, "HTTP/2 streams a client may reset within 10 s before GOAWAY"),
    ("h2-max-control-frames", int, "HTTP/2 SETTINGS and PING frames a client may send within 10 s"),
    # Workers
    (
        "workers",
        _worker_count,
        "worker processes under a supervisor, 0 or 'auto': one per core; unset: one process "
        "(else $WEB_CONCURRENCY, as uvicorn)",
    ),
    ("limit-max-requests", int, "recycle a worker after this many requests, its replacement started first"),
    ("limit-max-requests-jitter", int, "add a random 0 to this many requests to --limit-max-requests"),
    (
        "timeout-worker-healthcheck",
        float,
        "seconds a worker's event loop may send no heartbeat before it is killed and replaced",
    ),
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
    # HTTP/2
    ("h2c", "in cleartext, also accept HTTP/2 by prior knowledge and Upgrade: h2c"),
]


# uvicorn's other flags (docs/server/uvicorn-flags.md) -------------------------------------------
_SWITCHES += [("date-header", "send a 'date' header")]
LIFESPAN_MODES = ("auto", "on", "off")
# uvicorn options that choose what pyre-server has one of, or tune what it does not do:
# accepted, so that a uvicorn command line works unchanged, and ignored with a warning.
# (flag, takes a value, why ignored)
_IGNORED_FLAGS: list[tuple[str, bool, str]] = [
    ("loop", True, "pyre-server runs on uvloop when it is installed, else asyncio"),
    ("http2", False, "see --http and --h2c"),
    ("ws", True, "pyre-asgi has its own WebSocket implementation"),
    ("ws-max-queue", True, "pyre-asgi queues no messages: it reads one when the app calls receive()"),
    ("ws-per-message-deflate", True, "pyre-asgi negotiates no WebSocket extensions"),
    ("ws-ping-interval", True, "pyre-asgi answers the client's pings but sends none"),
    ("ws-ping-timeout", True, "pyre-asgi answers the client's pings but sends none"),
    ("h11-max-incomplete-event-size", True, "see --limit-request-line and --limit-header-size"),
    ("reset-contextvars", False, "pyre-server always runs a request in a copy of the context it started in"),
]


class _Ignored(argparse.Action):
    """Accepts a uvicorn option pyre-server has no use for, to warn about once logging is set up."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        namespace.ignored.append(f"{option} is ignored: {self.help}")


def _add_uvicorn_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument(
        "--app-dir",
        default=None,
        help="look for MODULE in this directory (default: the current one) [PYRE_APP_DIR]",
    )
    parser.add_argument(
        "--env-file",
        default=None,
        help="read environment variables from this dotenv file (needs python-dotenv); "
        "variables already set win [PYRE_ENV_FILE]",
    )
    parser.add_argument(
        "--log-config",
        default=None,
        help="logging configuration file: .json or .yaml (dictConfig; YAML needs PyYAML), "
        "else INI (fileConfig) [PYRE_LOG_CONFIG]",
    )
    parser.add_argument(
        "--use-colors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="colour level names in the default log format (default: when stderr is a terminal) "
        "[PYRE_USE_COLORS]",
    )
    parser.add_argument(
        "--header",
        dest="headers",
        action="append",
        default=None,
        metavar="NAME:VALUE",
        help="add this field to every response; repeatable (default: none) "
        "[PYRE_HEADER, several separated by newlines]",
    )
    parser.add_argument(
        "--lifespan",
        choices=LIFESPAN_MODES,
        default=None,
        help="run the app's lifespan if it has one, require one, or never run it "
        "(default: auto) [PYRE_LIFESPAN]",
    )
    parser.add_argument(
        "--timeout-graceful-shutdown",
        dest="timeout_drain",
        type=float,
        default=None,
        help="uvicorn's name for --timeout-drain [PYRE_TIMEOUT_DRAIN]",
    )
    parser.add_argument(
        "--reload-dir",
        dest="reload_dirs",
        action="append",
        default=None,
        help="with --reload, watch this directory; repeatable (default: the current one) "
        "[PYRE_RELOAD_DIR, several separated by spaces]",
    )
    parser.add_argument(
        "--reload-include",
        dest="reload_includes",
        action="append",
        default=None,
        help="with --reload, also watch files matching this glob; repeatable (default: *.py) "
        "[PYRE_RELOAD_INCLUDE, several separated by spaces]",
    )
    parser.add_argument(
        "--reload-exclude",
        dest="reload_excludes",
        action="append",
        default=None,
        help="with --reload, ignore files and directories matching this glob; repeatable "
        "(default: .* .py[cod] .sw.* ~*) [PYRE_RELOAD_EXCLUDE, several separated by spaces]",
    )
    parser.add_argument(
        "--reload-delay",
        type=float,
        default=None,
        help="with --reload, seconds between checks for changes (default: 0.25) [PYRE_RELOAD_DELAY]",
    )
    parser.add_argument(
        "--ws-max-size",
        type=int,
        default=None,
        help="largest WebSocket message in bytes, for ASGI apps (default: 16777216) [PYRE_WS_MAX_SIZE]",
    )
    ignored = parser.add_argument_group("uvicorn options pyre-server accepts and ignores, with a warning")
    for flag, takes_value, why in _IGNORED_FLAGS:
        ignored.add_argument(
            f"--{flag}",
            action=_Ignored,
            nargs=None if takes_value else 0,
            metavar="VALUE" if takes_value else None,
            help=why,
        )
    parser.set_defaults(ignored=[])


def _fill_uvicorn_flags(args: argparse.Namespace, environ: dict[str, str]) -> None:
    """After the environment filled the flags: defaults, and values Config does not check."""
    args.headers = tuple(_header(text) for text in args.headers or ())
    for name in ("reload_dirs", "reload_includes", "reload_excludes"):
        if getattr(args, name) is None:
            setattr(args, name, [])
    if args.reload_delay is None:
        args.reload_delay = 0.25
    if args.reload_delay <= 0:
        raise ValueError("--reload-delay must be positive")
    if args.ws_max_size is not None and args.ws_max_size <= 0:
        raise ValueError("--ws-max-size must be positive")
    if args.interface in ("asgi3", "asgi2"):
        args.interface = "asgi"


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"--header {text!r} is not NAME:VALUE")
    return name.strip(), value.strip()


def load_env_file(path: str, environ: dict[str, str]) -> None:
    """Set the dotenv file's variables in ``os.environ`` and ``environ``, where not set already."""
    try:
        from dotenv import dotenv_values
    except ImportError:
        raise ValueError("--env-file needs python-dotenv: pip install python-dotenv") from None
    if not os.path.isfile(path):
        raise ValueError(f"--env-file {path}: no such file")
    for name, value in dotenv_values(path).items():
        if value is not None and name not in environ:
            environ[name] = os.environ[name] = value


def version_text() -> str:
    implementation = platform.python_implementation()
    return (
        f"pyre-server {__version__} with {implementation} {platform.python_version()} on {platform.system()}"
    )


# -------------------------------------------------------------------------------------------------


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
        description="Serve a pyre-spec (or, with pyre-asgi installed, ASGI) app over HTTP/1.1 and HTTP/2.",
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
        help="restart when a watched file changes (see --reload-*); development only [PYRE_RELOAD]",
    )
    _add_uvicorn_flags(parser)
    return parser


def parse(argv: Sequence[str], environ: dict[str, str]) -> tuple[argparse.Namespace, Config]:
    """Arguments, with environment variables filling what the command line left out."""
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = dict(environ)
    try:
        _fill_from_environment(args, environ)
        _fill_uvicorn_flags(args, environ)
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
    if args.reload and config.workers is not None:
        parser.error("--reload runs one server process: give --workers or --reload, not both")
    return args, config


def _fill_from_environment(args: argparse.Namespace, environ: dict[str, str]) -> None:
    def fill(dest: str, flag: str, convert: Callable[[str], Any]) -> None:
        value = environ.get(env_name(flag))
        if getattr(args, dest) is None and value is not None:
            try:
                setattr(args, dest, convert(value))
            except ValueError:
                raise ValueError(f"{env_name(flag)}={value!r} is not valid") from None

    fill("env_file", "env-file", str)
    if args.env_file is not None:
        load_env_file(args.env_file, environ)
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
    # Workers: uvicorn's variable too.
    if args.workers is None and "WEB_CONCURRENCY" in environ:
        try:
            args.workers = int(environ["WEB_CONCURRENCY"])
        except ValueError:
            raise ValueError(f"WEB_CONCURRENCY={environ['WEB_CONCURRENCY']!r} is not valid") from None
    # systemd socket activation (sd_listen_fds(3)): one socket, passed as fd 3, for this process.
    if args.fd is None and args.uds is None and environ.get("LISTEN_PID") == str(os.getpid()):
        if environ.get("LISTEN_FDS") != "1":
            raise ValueError(
                f"LISTEN_FDS={environ.get('LISTEN_FDS')!r}: pyre-server serves exactly one socket"
            )
        args.fd = SD_LISTEN_FDS_START
    fill("interface", "interface", _choice(INTERFACES))
    fill("log_level", "log-level", _choice(LOG_LEVELS))
    # uvicorn's other flags
    fill("app_dir", "app-dir", str)
    fill("log_config", "log-config", str)
    fill("use_colors", "use-colors", _env_bool)
    fill("headers", "header", lambda value: [line for line in value.splitlines() if line.strip()])
    fill("lifespan", "lifespan", _choice(LIFESPAN_MODES))
    for flag in ("reload-dir", "reload-include", "reload-exclude"):
        fill(flag.replace("-", "_") + "s", flag, str.split)
    fill("reload_delay", "reload-delay", float)
    fill("ws_max_size", "ws-max-size", int)
    args.log_level_given = args.log_level is not None
    args.interface = args.interface or "auto"
    args.log_level = args.log_level or "info"


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(value)
        return value.lower()

    return convert


def load_app(
    spec: str, *, factory: bool, interface: str, asgi_options: dict[str, Any] | None = None
) -> Application:
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
    return adapt(target, interface, spec, asgi_options)


def adapt(target: Any, interface: str, spec: str, asgi_options: dict[str, Any] | None = None) -> Application:
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
        if interface == "asgi":
            raise AppLoadError(f"{spec} is an ASGI application: pip install pyre-asgi to serve it")
        if not takes_one_argument(target):
            raise AppLoadError(
                f"{spec} cannot be called with one argument, the request, so it is not a pyre-spec "
                "application; if it is an ASGI application, pip install pyre-asgi to serve it"
            )
        return target  # type: ignore[no-any-return]
    if interface == "auto" and not asgi.is_asgi_app(target):
        return target  # type: ignore[no-any-return]
    return asgi.from_asgi(target, **(asgi_options or {}))  # type: ignore[no-any-return]


def _import_pyre_asgi() -> Any:
    """The ``pyre.asgi`` module, or None when pyre-asgi is not installed."""
    try:
        return importlib.import_module("pyre.asgi")
    except Exception as error:
        if isinstance(error, ImportError) and error.name == "pyre.asgi":
            return None
        # Installed but broken (a missing or incompatible dependency): say so, not "not installed".
        raise AppLoadError(f"pyre-asgi is installed but cannot be imported: {error!r}") from error


def takes_one_argument(target: Any) -> bool:
    """Whether ``target`` can be called as a pyre-spec application is, with one positional argument.

    Without pyre-asgi, this is how ``auto`` tells a pyre-spec application from
    anything else (an ASGI one, usually) to name what is missing; what an ASGI
    application is stays pyre-asgi's to say (``pyre.asgi.is_asgi_app``).
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # no signature to read (some builtins): taken at its word
        return True
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyre serve`` and ``python -m pyre.server``; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        arguments = arguments[1:]
    from ._supervisor import Supervisor, become_worker, run_worker, supervised

    worker = become_worker()  # set when this process is a worker of a supervisor
    environ = dict(os.environ)  # before --env-file: what workers start with, to read it afresh
    args, config = parse(arguments, dict(os.environ))
    from ._logging import configure_logging
    from ._server import run

    try:
        configure_logging(
            args.log_level if args.log_level_given else None,
            use_colors=args.use_colors,
            config_file=args.log_config,
        )
    except ServerError as error:
        print(f"pyre: error: {error}", file=sys.stderr)
        return 1
    for warning in args.ignored:
        logger.warning(warning)
    if args.reload:
        from ._reload import Watch, run_reloading

        try:
            watch = Watch.from_flags(
                args.reload_dirs, args.reload_includes, args.reload_excludes, args.reload_delay
            )
        except ValueError as error:
            print(f"pyre: error: {error}", file=sys.stderr)
            return 1
        return run_reloading(arguments, watch)
    if worker is None and supervised(config):
        try:
            return Supervisor(arguments, config, environ).run()
        except ServerError as error:
            print(f"pyre: error: {error}", file=sys.stderr)
            return 1
    if args.app_dir:
        sys.path.insert(0, os.path.abspath(args.app_dir))
    asgi_options: dict[str, Any] = {"require_lifespan": True} if config.lifespan == "on" else {}
    if args.ws_max_size is not None:
        asgi_options["ws_max_size"] = args.ws_max_size
    try:
        app = load_app(
            args.app, factory=bool(args.factory), interface=args.interface, asgi_options=asgi_options
        )
        if worker is not None:
            run_worker(app, config, worker)
        else:
            run(app, config)
    except ServerError as error:
        print(f"pyre: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
