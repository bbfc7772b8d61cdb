"""Every setting of the server, with its default, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass


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

    # Workers
    limit_max_requests: int | None = None
    """After this many requests (plus up to ``limit_max_requests_jitter``), ``Server.limit_reached``
    is set and whoever runs the server recycles it: ``pyre serve`` starts a replacement worker,
    then drains this one.  Checked four times a second.  ``None``: no limit."""
    limit_max_requests_jitter: int = 0
    """Adds a random 0 to this many requests to ``limit_max_requests``, so that workers started
    together do not all recycle at once."""

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
        if self.limit_max_requests is not None and self.limit_max_requests <= 0:
            raise ValueError("limit_max_requests must be positive")
        if self.limit_max_requests_jitter < 0:
            raise ValueError("limit_max_requests_jitter must not be negative")
