"""gohttp's logger, and the logging set-up of the command and of run().

Everything gohttp says goes to the logger ``gohttp.error``, as uvicorn's
``uvicorn.error`` and gunicorn's ``gunicorn.error``: the banner
(``gohttp 0.1.0 serving on http://...``), lifecycle messages (shutdown,
workers started, stopped, recycled, reloaded), the exceptions handlers
and WSGI apps raise, and what WSGI apps write to ``wsgi.errors``.  The
access log is Go's (``access_log=``), not a Python logger.

Where the program has not configured logging, ``run()`` and the command
install a handler on ``gohttp`` that writes to standard error: INFO
lines as `` * message``, as the banner always read, and the others with
the time, level and logger.  The command's ``--log-config FILE`` instead
configures logging from a file, as uvicorn's: a ``dictConfig`` in JSON
(.json) or YAML (.yaml, .yml: needs PyYAML), else a ``fileConfig`` INI
file.
"""

from __future__ import annotations

import configparser
import importlib
import json
import logging
import logging.config
import os
from typing import Any, Optional

ERROR = "gohttp.error"
logger = logging.getLogger(ERROR)

# How the command has always written the records of other loggers.
DETAILED = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Formatter(logging.Formatter):
    """INFO records as `` * message``; the others in DETAILED form."""

    def __init__(self) -> None:
        super().__init__(DETAILED)

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO and not record.exc_info:
            return f" * {record.getMessage()}"
        return super().format(record)


def default_config(level: str = "INFO") -> dict[str, Any]:
    """The dictConfig of the default set-up: gohttp's records at level
    and above to standard error, not passed on to the root logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gohttp": {"()": Formatter}},
        "handlers": {"gohttp": {"class": "logging.StreamHandler",
                                "formatter": "gohttp",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"gohttp": {"handlers": ["gohttp"], "level": level,
                               "propagate": False}},
    }


def install_default() -> None:
    """Install the default set-up unless logging is configured already
    (a handler would get gohttp's records: the program's, or the
    command's)."""
    if not logger.hasHandlers():
        logging.config.dictConfig(default_config())


def configure_command(level: Optional[str], config: Optional[str]) -> None:
    """The command's logging: the file config names (see load), else the
    default set-up for gohttp and the command's usual format for the
    other loggers, at level (default INFO).  A level given with a file
    applies to gohttp's logger after it.  Raises ValueError naming the
    file and what is wrong with it."""
    if config is not None:
        load(config)
        if level is not None:
            logging.getLogger("gohttp").setLevel(level.upper())
        return
    level = (level or "info").upper()
    logging.basicConfig(level=level, format=DETAILED)
    logging.config.dictConfig(default_config(level))


def load(path: str) -> None:
    """Configure logging from the file at path: JSON or YAML as a
    dictConfig, anything else as a fileConfig (INI).  Loggers that exist
    already (gohttp's) stay enabled unless the file says otherwise.
    Raises ValueError "--log-config PATH: what is wrong"."""
    def wrong(problem: str) -> ValueError:
        return ValueError(f"--log-config {path}: {problem}")

    if not os.path.isfile(path):
        raise wrong("no such file")
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension in (".json", ".yaml", ".yml"):
            config = _read_dict(path, extension)
            if not isinstance(config, dict):
                raise wrong(f"want a mapping (a logging dictConfig), not "
                            f"{type(config).__name__}")
            config.setdefault("version", 1)
            config.setdefault("disable_existing_loggers", False)
            logging.config.dictConfig(config)
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except json.JSONDecodeError as exc:
        raise wrong(f"not valid JSON: {exc}") from None
    except ValueError as exc:  # dictConfig's, or ours
        if str(exc).startswith(f"--log-config {path}:"):
            raise
        raise wrong(_cause(exc)) from None
    except (OSError, KeyError, TypeError, AttributeError, ImportError,
            RuntimeError, configparser.Error) as exc:
        raise wrong(_cause(exc)) from None


def _read_dict(path: str, extension: str) -> Any:
    with open(path, encoding="utf-8") as f:
        if extension == ".json":
            return json.load(f)
        try:
            yaml = importlib.import_module("yaml")  # optional: untyped
        except ImportError:
            raise ValueError(f"--log-config {path}: a YAML file needs PyYAML "
                             f"(pip install pyyaml), or write it as JSON "
                             f"or INI") from None
        try:
            return yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise ValueError(f"--log-config {path}: not valid YAML: {exc}"
                             ) from None


def _cause(exc: BaseException) -> str:
    """exc and the exceptions it came from, as one line: dictConfig says
    "Unable to configure handler 'x'" and keeps the why in __cause__."""
    parts = []
    seen: Optional[BaseException] = exc
    while seen is not None:
        text = str(seen) or type(seen).__name__
        if isinstance(seen, KeyError):
            text = f"missing {text}"
        parts.append(text)
        seen = seen.__cause__
    return ": ".join(parts)
