"""Logging for the command line: the default handler, ``--log-config`` files, the trace level."""

from __future__ import annotations

import importlib
import json
import logging
import logging.config
import os
import sys
from typing import Any, Final

from ._errors import StartupError

# uvicorn's level below DEBUG; pyre-server logs nothing at it, so it shows what debug shows.
TRACE: Final = 5
logging.addLevelName(TRACE, "TRACE")

LOGGERS: Final = ("pyre.server", "pyre.server.access")

# ANSI colours of level names, as uvicorn has them.
_COLOURS: Final = {
    TRACE: "\x1b[34m",
    logging.DEBUG: "\x1b[36m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[91m",
}
_RESET: Final = "\x1b[0m"


class LevelFormatter(logging.Formatter):
    """``LEVEL:     message``, the level name coloured when ``use_colors``."""

    def __init__(self, use_colors: bool) -> None:
        super().__init__("%(message)s")
        self.use_colors = use_colors

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname}:"
        padding = " " * max(1, 10 - len(prefix))
        if self.use_colors:
            prefix = f"{_COLOURS.get(record.levelno, '')}{prefix}{_RESET}"
        return f"{prefix}{padding}{super().format(record)}"


def level_number(name: str) -> int:
    return TRACE if name == "trace" else logging.getLevelNamesMapping()[name.upper()]


def configure_logging(
    level: str | None, *, use_colors: bool | None = None, config_file: str | None = None
) -> None:
    """The default handler on stderr, or ``config_file``'s configuration.

    ``level`` (None: not given) sets pyre-server's loggers' level; with a file and no
    level, the file's levels stand.  ``use_colors`` None colours only on a terminal.
    """
    if config_file is not None:
        apply_config_file(config_file)
    else:
        colours = sys.stderr.isatty() if use_colors is None else use_colors
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LevelFormatter(colours))
        for name in LOGGERS:
            log = logging.getLogger(name)
            log.handlers[:] = [handler]
            log.propagate = False
        level = level or "info"
    if level is not None:
        for name in LOGGERS:
            logging.getLogger(name).setLevel(level_number(level))


def apply_config_file(path: str) -> None:
    """uvicorn's formats: dictConfig from ``.json`` or ``.yaml``/``.yml`` (needs PyYAML), else INI."""
    try:
        extension = os.path.splitext(path)[1].lower()
        if extension == ".json":
            with open(path, encoding="utf-8") as file:
                _dict_config(json.load(file))
        elif extension in (".yaml", ".yml"):
            try:
                yaml = importlib.import_module("yaml")  # PyYAML is optional and has no stubs here
            except ImportError:
                raise StartupError(f"{path}: a YAML log config needs PyYAML (pip install pyyaml)") from None
            with open(path, encoding="utf-8") as file:
                _dict_config(yaml.safe_load(file))
        else:
            if not os.path.isfile(path):
                raise FileNotFoundError(path)
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except StartupError:
        raise
    except Exception as error:  # a missing file, bad syntax, or a configuration dictConfig refuses
        raise StartupError(f"cannot apply log config {path}: {type(error).__name__}: {error}") from None


def _dict_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise ValueError("the file does not hold a mapping")
    config.setdefault("disable_existing_loggers", False)
    logging.config.dictConfig(config)
