"""Every setting of the server, with its default, in one frozen dataclass."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Final, Literal

from ._proxy import TrustedProxies
from ._response import extra_header_line

# TLS: the ssl_version numbers (ssl.PROTOCOL_*) taken for uvicorn's sake.  The generic server
# protocols negotiate TLS 1.2 or 1.3; PROTOCOL_TLSv1_2 keeps to 1.2; older ones are refused.
SSL_GENERIC_VERSIONS: Final = frozenset({int(ssl.PROTOCOL_TLS_SERVER), 2})  # 2: PROTOCOL_TLS, SSLv23
SSL_TLS_1_2_ONLY: Final = 5  # PROTOCOL_TLSv1_2
SSL_VERSIONS: Final = SSL_GENERIC_VERSIONS | {SSL_TLS_1_2_ONLY}


@dataclass(frozen=True, slots=True)
class Config:
    """Where to listen, how much to accept, and how long to wait.

    Sizes are in bytes, timeouts in seconds.  Each field has a command-line
    flag and a ``PYRE_*`` environment variable (see ``docs/server``).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    """``0`` picks a free port; ``Server.port`` tells which."""
    uds: str | None = None
    """Listen on this Unix domain socket path instead of host and port."""
    fd: int | None = None
    """Listen on this already-bound socket file descriptor (systemd socket activation, supervisors)."""
    backlog: int = 2048
    root_path: str = ""
    access_log: bool = True
    server_header: bool = True
    """Send ``server: pyre``."""

    limit_request_line: int = 8190
    """Longest request-target; longer gets 414."""
    limit_header_size: int = 32768
    """Largest header section (and trailer section); larger gets 431."""
    limit_header_count: int = 100
    """Most field lines in a header section; more gets 431."""
    limit_body_size: int = 16 * 1024 * 1024
    """Largest request body; larger gets 413 (``RequestBodyTooLarge`` in the app)."""

    timeout_keep_alive: float = 5.0
    """Close a connection idle between requests after this long."""
    timeout_header: float = 10.0
    """Time allowed from the first byte of a request to the end of its header section (408)."""
    timeout_body: float = 30.0
    """Longest wait for more request body while the app is reading it (408)."""
    limit_body_rate: int = 500
    """Lowest rate, in bytes per second, at which request content must arrive while the
    app waits for it: each byte received allows ``1 / limit_body_rate`` more seconds of
    waiting, with at most ``timeout_body`` in hand (408).  ``0``: only ``timeout_body``."""
    timeout_send: float = 30.0
    """Abort a connection whose client reads nothing of the response for this long
    (the write buffer stays full)."""
    timeout_drain: float = 30.0
    """On shutdown, time given to requests in progress before they are cancelled."""

    # Proxy headers
    proxy_headers: bool = True
    """Take the client address, scheme and host from ``Forwarded`` or ``X-Forwarded-*``
    when the peer is in ``forwarded_allow_ips`` (or a Unix socket)."""
    forwarded_allow_ips: str = "127.0.0.1,::1"
    """Comma-separated IP addresses and CIDR networks of trusted proxies; ``*`` trusts every peer."""

    # Workers
    workers: int | None = None
    """``pyre serve``: run this many worker processes under a supervisor, ``0`` one per
    core.  ``None``: one process, no supervisor (unless ``limit_max_requests``)."""
    timeout_worker_healthcheck: float = 5.0
    """``pyre serve`` with a supervisor: a worker whose event loop sends no heartbeat for
    this long is killed and replaced."""
    limit_max_requests: int | None = None
    """After this many requests (plus up to ``limit_max_requests_jitter``), ``Server.limit_reached``
    is set and whoever runs the server recycles it: ``pyre serve`` starts a replacement worker,
    then drains this one.  Checked four times a second.  ``None``: no limit."""
    limit_max_requests_jitter: int = 0
    """Adds a random 0 to this many requests to ``limit_max_requests``, so that workers started
    together do not all recycle at once."""

    # Header field size
    limit_header_field_size: int | None = None
    """Largest single header field, name and value, in bytes; larger gets 431 (gunicorn's
    ``limit_request_field_size``).  ``None``: only ``limit_header_size`` bounds a field."""

    # Concurrency limit
    limit_concurrency: int | None = None
    """Most requests in progress at once (the app, its response or its upgrade still running);
    a request beyond it gets 503 with ``retry-after`` and its connection closes.  ``None``: no limit."""

    # TLS
    ssl_certfile: str | None = None
    """Serve HTTPS with this PEM certificate (chain); TLS is on exactly when this is set."""
    ssl_keyfile: str | None = None
    """The certificate's private key, when it is not in ``ssl_certfile``."""
    ssl_keyfile_password: str | None = None
    """The password of an encrypted private key."""
    ssl_version: int = 17
    """uvicorn's ``ssl.PROTOCOL_*`` number: 17 (``PROTOCOL_TLS_SERVER``) or 2 (``PROTOCOL_TLS``)
    negotiate TLS 1.2 or 1.3, 5 (``PROTOCOL_TLSv1_2``) keeps to TLS 1.2; nothing older is served."""
    ssl_cert_reqs: int = 0
    """Client certificates: 0 not asked for, 1 verified when sent, 2 required
    (``ssl.CERT_NONE``, ``CERT_OPTIONAL``, ``CERT_REQUIRED``); 1 and 2 need ``ssl_ca_certs``."""
    ssl_ca_certs: str | None = None
    """PEM file of the CA certificates client certificates are verified against."""
    ssl_ciphers: str | None = None
    """OpenSSL cipher list for TLS 1.2 (TLS 1.3's suites are OpenSSL's); ``None``: Python's default."""

    # uvicorn's response-head and lifespan flags
    date_header: bool = True
    """Send a ``date`` header (one the app sends wins)."""
    headers: tuple[tuple[str, str], ...] = ()
    """``(name, value)`` fields added to every response, the server's own error responses too."""
    lifespan: str = "auto"
    """``auto``: run the app's lifespan if it has one; ``on``: fail to start if it has none;
    ``off``: never run it."""

    # HTTP/2
    http: Literal["auto", "1", "2"] = "auto"
    """``auto``: HTTP/1.1, and HTTP/2 where TLS's ALPN chooses it; ``1``: HTTP/1.1 only;
    ``2``: HTTP/2 only (ALPN h2 on TLS, prior-knowledge h2c in cleartext)."""
    h2c: bool = False
    """In cleartext with ``http="auto"``, also accept HTTP/2: prior knowledge (the client
    preface) and ``Upgrade: h2c``."""
    h2_max_concurrent_streams: int = 100
    """SETTINGS_MAX_CONCURRENT_STREAMS: streams whose app runs at once on one connection,
    reset ones included; more are refused (RST_STREAM REFUSED_STREAM)."""
    h2_header_table_size: int = 4096
    """SETTINGS_HEADER_TABLE_SIZE: the HPACK table the client may make the server keep."""
    h2_max_resets: int = 200
    """Streams a client may reset (or have refused) within 10 s; more: GOAWAY
    ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487)."""
    h2_max_control_frames: int = 200
    """SETTINGS and PING frames a client may send within 10 s; more: GOAWAY ENHANCE_YOUR_CALM."""

    def __post_init__(self) -> None:
        for name in ("limit_request_line", "limit_header_size", "limit_header_count", "limit_body_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("timeout_keep_alive", "timeout_header", "timeout_body", "timeout_drain", "timeout_send"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.limit_body_rate < 0:
            raise ValueError("limit_body_rate must not be negative")
        if sum(option is not None for option in (self.uds, self.fd)) > 1:
            raise ValueError("give at most one of uds and fd")
        try:  # proxy headers
            TrustedProxies(self.forwarded_allow_ips)
        except ValueError:
            raise ValueError(
                f"forwarded_allow_ips={self.forwarded_allow_ips!r}: not IP addresses, networks or '*'"
            ) from None
        if self.workers is not None and self.workers < 0:
            raise ValueError("workers must not be negative (0: one per core)")
        if self.timeout_worker_healthcheck <= 0:
            raise ValueError("timeout_worker_healthcheck must be positive")
        if self.limit_max_requests is not None and self.limit_max_requests <= 0:
            raise ValueError("limit_max_requests must be positive")
        if self.limit_max_requests_jitter < 0:
            raise ValueError("limit_max_requests_jitter must not be negative")
        # uvicorn's response-head and lifespan flags
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not from 0 to 65535")
        if self.backlog <= 0:
            raise ValueError("backlog must be positive")
        if self.lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be auto, on or off, not {self.lifespan!r}")
        for name, value in self.headers:
            extra_header_line(name, value)
        # Header field size
        if self.limit_header_field_size is not None and self.limit_header_field_size <= 0:
            raise ValueError("limit_header_field_size must be positive")
        # Concurrency limit
        if self.limit_concurrency is not None and self.limit_concurrency <= 0:
            raise ValueError("limit_concurrency must be positive")
        # TLS
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs ssl_certfile")
        if self.ssl_version not in SSL_VERSIONS:
            raise ValueError(
                f"ssl_version {self.ssl_version} is not one of {sorted(SSL_VERSIONS)} (TLS 1.2 or later)"
            )
        if self.ssl_cert_reqs not in (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED):
            raise ValueError(f"ssl_cert_reqs {self.ssl_cert_reqs} is not 0, 1 or 2")
        if self.ssl_cert_reqs != ssl.CERT_NONE and self.ssl_ca_certs is None:
            raise ValueError("ssl_cert_reqs 1 or 2 needs ssl_ca_certs to verify client certificates")
        # HTTP/2
        if self.http not in ("auto", "1", "2"):
            raise ValueError(f"http must be auto, 1 or 2, not {self.http!r}")
        if self.h2c and self.http == "1":
            raise ValueError("h2c is HTTP/2: it needs http auto (or 2, which is h2c alone)")
        for name in ("h2_max_concurrent_streams", "h2_max_resets", "h2_max_control_frames"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.h2_header_table_size < 0:
            raise ValueError("h2_header_table_size must not be negative")
