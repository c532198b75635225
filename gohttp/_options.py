"""Every option of gohttp.Server, Server.run() and the gohttp command, in
one table: its name, default, what values it takes, the command's flag
and help.  Both the Python API and the command check values here, once;
the C extension then only converts types, and Go keeps only its own
invariants.

A wrong value raises TypeError (wrong type) or ValueError (wrong value),
whose message names the option and the value and says what is wanted::

    >>> check("max_handlers", 0)
    Traceback (most recent call last):
    ValueError: max_handlers must be a whole number of at least 1, not 0

The command reads text with ``Option.read`` and says the same with its
flag: ``--max-handlers wants a whole number of at least 1, not '0'``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional

from . import _address

# Where an option goes: the core's constructor, listen(), the address the
# server binds, the Python Server itself, run() (worker processes), an
# ASGI app's mount (mount_asgi, serve_asgi), or the command alone (how it
# loads APP).
CORE, LISTEN, ADDRESS = "core", "listen", "address"
SERVER, RUN, ASGI, COMMAND = "server", "run", "asgi", "command"


@dataclass(frozen=True)
class Kind:
    """What values an option takes.

    accept(value) returns the value to use, in the form the core takes,
    and raises TypeError or ValueError without a message when value is
    not one (Option says the option must be want), or with a message of
    its own (Option puts the option's name before it).
    read(text) turns the command's text into a value for accept; its
    ValueError makes the command say cli_want."""

    want: str
    accept: Callable[[Any], Any]
    read: Callable[[str], Any] = str
    cli_want: str = ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_in(low: int, high: Optional[int] = None, *, none: bool = False
            ) -> Callable[[Any], Optional[int]]:
    def accept(value: Any) -> Optional[int]:
        if value is None and none:
            return None
        if not _is_int(value):
            raise TypeError
        if value < low or (high is not None and value > high):
            raise ValueError
        return int(value)
    return accept


# Timeouts and durations: Go's time.Duration counts int64 nanoseconds.
_MAX_SECONDS = 1e9


def _seconds(*, none: bool) -> Callable[[Any], Optional[float]]:
    def accept(value: Any) -> Optional[float]:
        if value is None and none:
            return None
        if not _is_number(value):
            raise TypeError
        if not (0 <= value < _MAX_SECONDS):  # NaN too
            raise ValueError
        return float(value)
    return accept


def _read_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def _read_seconds(text: str) -> float:
    seconds = float(text)
    if not math.isfinite(seconds):
        raise ValueError(text)
    return seconds


def _read_timeout(text: str) -> Optional[float]:
    return _read_seconds(text) or None  # 0: no limit


def _read_workers(text: str) -> Any:
    return text if text == "auto" else _read_int(text)


def _accept_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _accept_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


# A flag's text in the environment or a file (the command line's
# --reload takes none): these words, in any case.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _read_flag(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(text)


def _accept_path(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError
    path = os.fspath(value)
    if not isinstance(path, str) or not path or "\0" in path:
        raise ValueError
    return path


def _accept_addresses(value: Any) -> Optional[list[_address.Address]]:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError from None
    return [_address.parse(item) for item in items] or None


def _accept_access_log(value: Any) -> Optional[str]:
    """The core's access_log: None (off), "-" (standard error) or a
    path."""
    if value is None or value is False:
        return None
    if value is True:
        return "-"
    return _accept_path(value)


def _read_access_log(text: str) -> Any:
    """A flag's word (on: standard error, off: none), else a path."""
    try:
        return _read_flag(text)
    except ValueError:
        return text


def _accept_ip_list(value: Any) -> Optional[str]:
    """The core's forwarded_allow_ips: one comma-separated str (Go parses
    its entries), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    try:
        items = list(value)
    except TypeError:
        raise TypeError from None
    if not all(isinstance(item, str) for item in items):
        raise TypeError
    return ",".join(items) or None


def _accept_workers(value: Any) -> Optional[int]:
    return 0 if value == "auto" else _int_in(0)(value)


def _accept_choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def accept(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError
        if value not in choices:
            raise ValueError
        return value
    return accept


def _accept_optional_str(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError
    if "\0" in value:
        raise ValueError
    return value or None


# Client certificates: uvicorn's names, and the ssl module's CERT_NONE,
# CERT_OPTIONAL, CERT_REQUIRED (0, 1, 2), which uvicorn takes too.
CERT_REQS = ("none", "optional", "required")


def _accept_cert_reqs(value: Any) -> str:
    if _is_int(value) and 0 <= value < len(CERT_REQS):
        return CERT_REQS[value]
    return _accept_choice(CERT_REQS)(value)


def _read_cert_reqs(text: str) -> Any:
    return int(text) if text.isdigit() else text.lower()


def _accept_tls_version(value: Any) -> str:
    """"1.2" or "1.3" from "1.2", "TLSv1.2", "TLSv1_2" (ssl.TLSVersion's
    names: it is taken too) or granian's "tls1.2"."""
    if isinstance(value, float) and value in (1.2, 1.3):
        return str(value)
    name = getattr(value, "name", value)
    if not isinstance(name, str):
        raise TypeError
    version = re.sub(r"^tlsv?", "", name.lower()).replace("_", ".")
    if version not in ("1.2", "1.3"):
        raise ValueError
    return version

# The command's own kinds: what it serves, and how (its block of OPTIONS).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _accept_app(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    if "\0" in value:
        raise ValueError
    return value  # the command says what is wrong with its form


class StaticDir(NamedTuple):
    """One --static: the files under directory, served at URL prefix."""

    prefix: str
    directory: str

    def __str__(self) -> str:
        return f"{self.prefix}={self.directory}"


def _read_static(text: str) -> StaticDir:
    prefix, sep, directory = text.partition("=")
    if not sep or not prefix.startswith("/") or not directory:
        raise ValueError(text)
    return StaticDir(prefix, directory)


def _list_of(accept: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """accept for a repeatable option: one value or a list of them, each
    taken by accept; a list, or None for none."""
    def accept_list(value: Any) -> Optional[list[Any]]:
        if value is None:
            return None
        if isinstance(value, (str, StaticDir)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return [accept(item) for item in value] or None
    return accept_list


def _accept_static(value: Any) -> StaticDir:
    if isinstance(value, StaticDir):
        return value
    if not isinstance(value, str):
        raise TypeError
    return _read_static(value)


def _accept_pattern(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    if not value or "\0" in value:
        raise ValueError
    return value


APP = Kind("MODULE:CALLABLE, such as main:app", _accept_app)
STATIC = Kind("PREFIX=DIR, such as /static/=./public, or a list of them",
              _list_of(_accept_static), _read_static,
              "PREFIX=DIR, such as /static/=./public")
PATHS = Kind("a directory, or a list of them",
             _list_of(_accept_path), cli_want="a directory")
PATTERNS = Kind("a glob pattern such as '*.py', or a list of them",
                _list_of(_accept_pattern), cli_want="a glob pattern")
LOG_LEVEL = Kind(f"one of {', '.join(LOG_LEVELS)}",
                 _accept_choice(LOG_LEVELS))
# What --reload watches unless told: uvicorn's defaults, and Python's
# caches.
RELOAD_INCLUDES = ("*.py",)
RELOAD_EXCLUDES = (".*", "*~", "__pycache__")


HOST = Kind("a host name or IP address as a str ('' for every interface)",
            _accept_str)
PORT = Kind("a port number from 0 to 65535 (0: the OS picks)",
            _int_in(0, 65535), _read_int)
ADDRESSES = Kind(f"an address or a list of addresses: {_address.FORMS}",
                 _accept_addresses, cli_want=_address.FORMS)
PATH = Kind("a file path (str or os.PathLike), or None", _accept_path)
FD = Kind("a file descriptor number (an int >= 0), or None",
          _int_in(0, none=True), _read_int, "a file descriptor number")
FLAG = Kind("True or False", _accept_flag, _read_flag,
            "true or false (1 or 0, yes or no, on or off)")
AT_LEAST_1 = Kind("a whole number of at least 1", _int_in(1), _read_int)
LIMIT = Kind("a whole number of at least 1, or None for no limit",
             _int_in(1, none=True), _read_int, "a whole number of at least 1")
WHOLE = Kind("a whole number of at least 0", _int_in(0), _read_int)
TIMEOUT = Kind("a number of seconds (0 or more), or None for no limit",
               _seconds(none=True), _read_timeout,
               "a number of seconds, 0 for no limit")
SECONDS = Kind("a number of seconds, 0 or more", _seconds(none=False),
               _read_seconds, "a number of seconds")
ACCESS_LOG = Kind("True (standard error), '-' (standard error), a file "
                  "path, or False", _accept_access_log, _read_access_log,
                  cli_want="a file path, '-' or on (standard error), or off")
IP_LIST = Kind("a comma-separated str or a list of IP addresses and "
               "networks ('127.0.0.1,10.0.0.0/8'), or None", _accept_ip_list)
WORKERS = Kind("a number of worker processes, or 0 or 'auto' for one per "
               "CPU", _accept_workers, _read_workers)
SECRET = Kind("a str, or None", _accept_optional_str)
CERT_REQ = Kind("'none', 'optional' or 'required' (or ssl.CERT_NONE, "
                "CERT_OPTIONAL, CERT_REQUIRED)", _accept_cert_reqs,
                _read_cert_reqs, "none, optional or required")
TLS_VERSION = Kind("'1.2' or '1.3' (also 'TLSv1.3', 'tls1.3' or an "
                   "ssl.TLSVersion)", _accept_tls_version,
                   cli_want="1.2 or 1.3")
CIPHERS = Kind("Go's names of TLS 1.2 cipher suites, comma-separated "
               "('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,...'), or None",
               _accept_optional_str)
# The interfaces the command serves APP with: auto tells them apart;
# asgi3 is uvicorn's name for asgi.
INTERFACES = ("auto", "asgi", "asgi3", "asgi2", "wsgi")
LIFESPANS = ("auto", "on", "off")
LOOPS = ("auto", "asyncio", "uvloop")


def _accept_interface(value: Any) -> str:
    interface = _accept_choice(INTERFACES)(value)
    return "asgi" if interface == "asgi3" else interface


def _accept_root_path(value: Any) -> Optional[str]:
    """A prefix a proxy took off the path: "" or None for none, else a
    path that starts with "/"."""
    path = _accept_optional_str(value)
    if path is not None and not path.startswith("/"):
        raise ValueError
    return path


ROOT_PATH = Kind("a URL path that starts with '/' (such as '/api'), or "
                 "None", _accept_root_path,
                 cli_want="a URL path that starts with '/'")
LOG_FORMATS = ("combined", "common", "json")
LOG_FORMAT = Kind(f"one of {', '.join(LOG_FORMATS)}",
                  _accept_choice(LOG_FORMATS))


def _accept_metrics_bind(value: Any) -> Optional[str]:
    """The metrics listener's address: HOST:PORT or unix:PATH, as
    canonical text; None for none."""
    if value is None:
        return None
    address = _address.parse(value)
    if address.kind == "fd":
        raise ValueError("the metrics listener takes HOST:PORT or "
                         "unix:PATH, not an inherited socket (fd://N)")
    return str(address)


METRICS_BIND = Kind("an address, HOST:PORT (127.0.0.1:9100, :9100 for "
                    "every interface) or unix:PATH, or None",
                    _accept_metrics_bind,
                    cli_want="HOST:PORT or unix:PATH")


@dataclass(frozen=True)
class Option:
    """One option: name (the keyword), where it goes, its default, what
    it takes; the command's flags (none: not on the command line) and
    help, whose "(default: ...)" shown says unless it is empty."""

    name: str
    where: str
    default: Any
    kind: Kind
    flags: tuple[str, ...] = ()
    help: str = ""
    metavar: Optional[str] = None
    shown: str = ""
    cli: dict[str, Any] = field(default_factory=dict)  # add_argument's
    # Environment variables read after GOHTTP_<KEY> (see _config.py).
    env: tuple[str, ...] = ()

    def check(self, value: Any, *, spelled: str = "",
              want: str = "") -> Any:
        """value as the core takes it; TypeError or ValueError naming
        the option (spelled, else its name) and value, and saying what
        it must be (want, else the kind's), otherwise."""
        try:
            return self.kind.accept(value)
        except (TypeError, ValueError) as exc:
            name = spelled or self.name
            if exc.args:
                raise type(exc)(f"{name}: {exc}") from None
            raise type(exc)(f"{name} must be {want or self.kind.want}, "
                            f"not {value!r}") from None

    def read(self, text: str, *, spelled: str = "") -> Any:
        """The command's text for this option, checked; ValueError with
        the command's message (naming spelled, else the first flag)
        otherwise."""
        flag = spelled or (self.flags[0] if self.flags else self.name)
        want = self.kind.cli_want or self.kind.want
        try:
            value = self.kind.read(text)
        except ValueError:
            raise ValueError(f"{flag} wants {want}, not {text!r}") from None
        try:
            return self.check(value, spelled=flag, want=want)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    @property
    def key(self) -> str:
        """Its name in the environment (GOHTTP_KEY) and in a config file:
        its first long flag's (--timeout-read: timeout_read), so that
        --help tells them; its name if it has no flag."""
        for flag in self.flags:
            if flag.startswith("--"):
                return flag[2:].replace("-", "_")
        return self.name

    @property
    def repeatable(self) -> bool:
        """Whether the command line takes it more than once (its value
        is then a list, and read gives a list too)."""
        return self.cli.get("action") == "append"

    @property
    def configurable(self) -> bool:
        """Whether the command takes it (on its line, in the environment
        or in a config file): it has a flag, or is the command's own."""
        return bool(self.flags) or self.where == COMMAND

    @property
    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.default is None:
            return "none"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


def _timeout(name: str, flag: str, default: Optional[float], what: str,
             zero: str = "0 for no limit") -> Option:
    return Option(name, LISTEN, default, TIMEOUT, (flag,), f"{what}; {zero}",
                  "SECONDS")


OPTIONS: tuple[Option, ...] = (
    # The command's own: what it serves, where its options come from,
    # reloading (see _config.py, _reload.py).
    Option("app", COMMAND, None, APP, (),
           "what to serve: MODULE:CALLABLE and the forms below"),
    Option("config", COMMAND, None, PATH, ("--config", "-c"),
           "read options from FILE: TOML (.toml, keys as the flags without "
           "--: workers = 4) or Python (module-level names, as gunicorn's "
           "-c); the command line overrides GOHTTP_* environment "
           "variables (GOHTTP_WORKERS=4 for any flag), which override the "
           "file, which overrides the defaults; --print-config shows the "
           "result", "FILE", shown="none"),
    Option("reload", COMMAND, False, FLAG, ("--reload",),
           "while developing: serve from a fresh worker process, on the "
           "same sockets, whenever a watched file changes; code that "
           "fails to import leaves the previous worker serving",
           shown="off", cli={"action": "store_true"}),
    Option("reload_dirs", COMMAND, None, PATHS, ("--reload-dir",),
           "a directory --reload watches, with its subdirectories; "
           "repeatable", "DIR", shown="the current directory",
           cli={"action": "append"}),
    Option("reload_includes", COMMAND, None, PATTERNS, ("--reload-include",),
           "the files --reload watches, by a glob pattern of their name "
           "or path; repeatable", "GLOB",
           shown=", ".join(RELOAD_INCLUDES), cli={"action": "append"}),
    Option("reload_excludes", COMMAND, None, PATTERNS, ("--reload-exclude",),
           "the files and directories --reload ignores, by a glob pattern; "
           "repeatable", "GLOB", shown=", ".join(RELOAD_EXCLUDES),
           cli={"action": "append"}),
    # Where it listens.
    Option("host", ADDRESS, "127.0.0.1", HOST),
    Option("port", ADDRESS, 5000, PORT),
    Option("bind", ADDRESS, None, ADDRESSES, ("--bind", "-b"),
           "where to listen: HOST:PORT ([::1]:8000 for IPv6, port 0 lets "
           "the OS pick: the banner tells which), unix:PATH or fd://N; "
           "repeat it to listen on several", "ADDRESS",
           shown="127.0.0.1:5000, or the address a gohttp.Server APP was "
                 "given", cli={"action": "append"}),
    Option("uds", ADDRESS, None, PATH, ("--uds",),
           "listen on this Unix domain socket, like --bind unix:PATH",
           "PATH"),
    Option("fd", ADDRESS, None, FD, ("--fd",),
           "listen on this inherited socket, as systemd socket activation "
           "passes it, like --bind fd://N", "N"),
    Option("reuse_port", LISTEN, False, FLAG, ("--reuse-port",),
           "set SO_REUSEPORT on TCP listeners, so that other processes "
           "may listen on the same address, such as a new gohttp started "
           "before the old one stops; --workers needs no such option",
           shown="off", cli={"action": "store_true"}),
    # TLS and HTTP/2.
    Option("certfile", LISTEN, None, PATH, ("--certfile", "--ssl-certfile"),
           "serve HTTPS with this certificate (its chain may follow it); "
           "HTTP/2 is then offered by ALPN", "PEM", shown="plain HTTP"),
    Option("keyfile", LISTEN, None, PATH, ("--keyfile", "--ssl-keyfile"),
           "the certificate's private key; both files are reloaded when "
           "they change, and on SIGHUP", "PEM",
           shown="the key inside --certfile"),
    Option("ssl_keyfile_password", LISTEN, None, SECRET,
           ("--ssl-keyfile-password",),
           "the password of a legacy-encrypted PEM key (Proc-Type: "
           "4,ENCRYPTED); better given in the environment variable "
           "GOHTTP_SSL_KEYFILE_PASSWORD, which ps does not show",
           "PASSWORD", shown="$GOHTTP_SSL_KEYFILE_PASSWORD, else none"),
    Option("ssl_ca_certs", LISTEN, None, PATH, ("--ssl-ca-certs",),
           "the CA certificates that sign client certificates, for "
           "--ssl-cert-reqs", "PEM"),
    Option("ssl_cert_reqs", LISTEN, "none", CERT_REQ, ("--ssl-cert-reqs",),
           "client certificates (mutual TLS): none asks for none, "
           "optional verifies one if given, required refuses clients "
           "without one", "none|optional|required"),
    Option("ssl_min_version", LISTEN, "1.2", TLS_VERSION,
           ("--ssl-min-version",), "the oldest TLS version accepted",
           "1.2|1.3"),
    Option("ssl_ciphers", LISTEN, None, CIPHERS, ("--ssl-ciphers",),
           "the cipher suites for TLS 1.2, in Go's names, comma-separated "
           "(TLS 1.3's are Go's own)", "LIST", shown="Go's"),
    Option("http2_cleartext", LISTEN, False, FLAG, ("--http2-cleartext",),
           "also serve HTTP/2 without TLS to clients that know it in "
           "advance, h2c", shown="off", cli={"action": "store_true"}),
    # HTTP/3 (go/http3.go).
    Option("http3", LISTEN, False, FLAG, ("--http3",),
           "also serve HTTP/3 over QUIC on UDP, at the TCP address's port "
           "unless --http3-bind says otherwise, and advertise it with "
           "Alt-Svc on HTTP/1.1 and HTTP/2 responses; needs --certfile",
           shown="off", cli={"action": "store_true"}),
    Option("http3_bind", LISTEN, None,
           Kind("a UDP address HOST:PORT ('[::1]:8443' for IPv6), or None",
                _accept_optional_str), ("--http3-bind",),
           "the UDP address of HTTP/3", "HOST:PORT",
           shown="the host and port of the first TCP address"),
    Option("http3_0rtt", LISTEN, False, FLAG, ("--http3-0rtt",),
           "accept 0-RTT requests, sent before the handshake ends by a "
           "client back within a session ticket's life; an attacker may "
           "replay them, so only for apps whose requests are safe to "
           "repeat", shown="off", cli={"action": "store_true"}),
    # Handlers, limits, timeouts.
    Option("max_handlers", CORE, 64, AT_LEAST_1, ("--max-handlers",),
           "how many requests may run Python at once; more wait in Go at "
           "no thread's cost.  WSGI apps only: a gohttp.Server sets its "
           "own", "N"),
    _timeout("read_header_timeout", "--timeout-read-header", 10.0,
             "how long a client may take to send a request's headers"),
    _timeout("read_timeout", "--timeout-read", None,
             "how long a client may take to send a whole request, body "
             "included"),
    _timeout("write_timeout", "--timeout-write", None,
             "how long writing a response may take, from the end of the "
             "request's headers"),
    _timeout("idle_timeout", "--timeout-idle", 120.0,
             "how long a keep-alive connection may wait for its next "
             "request", "0 for the read timeout's limit, as in Go"),
    Option("max_header_bytes", LISTEN, 1 << 20, AT_LEAST_1,
           ("--max-header-bytes",),
           "the most request header bytes; beyond, 431", "N"),
    Option("max_body_bytes", LISTEN, None, LIMIT,
           ("--max-body-size", "--max-body-bytes"),
           "the largest request body in bytes; beyond, Go answers 413 "
           "before Python sees the request", "N", shown="no limit"),
    Option("max_connections", LISTEN, None, LIMIT, ("--max-connections",),
           "the most open client connections; more wait to be accepted",
           "N", shown="no limit"),
    # Static files (the command's; srv.static() in Python).
    Option("static", COMMAND, None, STATIC, ("--static",),
           "serve the files under DIR at URL PREFIX, by Go alone (no "
           "Python per request); repeatable: --static /static/=./public",
           "PREFIX=DIR", shown="none", cli={"action": "append"}),
    Option("static_listing", COMMAND, False, FLAG, ("--static-listing",),
           "list the files of --static directories without an index.html",
           shown="404", cli={"action": "store_true"}),
    # Logs and proxies.
    Option("log_level", COMMAND, "info", LOG_LEVEL, ("--log-level",),
           "the level of gohttp's messages (logger gohttp.error) and, "
           "without --log-config, of the app's, logged to stderr",
           cli={"choices": LOG_LEVELS}),
    Option("log_config", COMMAND, None, PATH, ("--log-config",),
           "configure logging from FILE instead: a logging dictConfig in "
           ".json or .yaml/.yml (needs PyYAML), else a fileConfig .ini",
           "FILE", shown="gohttp's messages to stderr"),
    Option("access_log", LISTEN, False, ACCESS_LOG, ("--access-log",),
           "log one line per request, written by Go off the GIL, to "
           "stderr or to PATH", "PATH", shown="off",
           cli={"nargs": "?", "const": True}),
    Option("access_log_format", LISTEN, "combined", LOG_FORMAT,
           ("--access-log-format",), "the access log's format",
           cli={"choices": LOG_FORMATS}),
    Option("forwarded_allow_ips", LISTEN, None, IP_LIST,
           ("--forwarded-allow-ips",),
           "comma-separated IPs and networks of proxies trusted to set "
           "X-Forwarded-For and X-Forwarded-Proto, '*' for all", "LIST",
           env=("FORWARDED_ALLOW_IPS",),  # uvicorn's and gunicorn's
           shown="$FORWARDED_ALLOW_IPS, else none"),
    # WebSockets (uvicorn's names).
    Option("ws_max_size", LISTEN, 16 << 20, AT_LEAST_1, ("--ws-max-size",),
           "the largest WebSocket message in bytes; beyond, Go closes the "
           "WebSocket with 1009", "N", shown="16777216 (16 MiB)"),
    Option("ws_ping_interval", LISTEN, 20.0,
           Kind("a number of seconds, or None or 0 for no pings",
                _seconds(none=True), _read_timeout,
                "a number of seconds, 0 for no pings"),
           ("--ws-ping-interval",),
           "how often Go pings each WebSocket's client; 0 for never",
           "SECONDS"),
    Option("ws_ping_timeout", LISTEN, 20.0, TIMEOUT, ("--ws-ping-timeout",),
           "how long a ping waits for its pong before Go drops the client "
           "(the app gets websocket.disconnect 1006); 0 for no limit",
           "SECONDS"),
    Option("ws_per_message_deflate", LISTEN, True, FLAG,
           ("--ws-per-message-deflate",),
           "offer WebSocket compression (permessage-deflate, without "
           "context takeover: no window is kept between messages)",
           shown="on", cli={"action": argparse.BooleanOptionalAction}),
    Option("ws_max_connections", LISTEN, None, LIMIT,
           ("--ws-max-connections",),
           "the most WebSockets open at once; beyond, Go answers the "
           "handshake 503", "N", shown="no limit"),
    # Stopping.
    Option("shutdown_timeout", SERVER, 10.0, SECONDS, ("--shutdown-timeout",),
           "how long Ctrl-C or SIGTERM waits for requests in flight",
           "SECONDS"),
    # Operating it: metrics and probes, draining (docs/metrics.md,
    # docs/deployment.md).
    Option("metrics_bind", SERVER, None, METRICS_BIND, ("--metrics-bind",),
           "serve /metrics (Prometheus), /healthz and /readyz from Go on "
           "this address of their own, such as 127.0.0.1:9100; with "
           "--workers one address shows every worker", "ADDRESS",
           shown="off"),
    Option("shutdown_delay", SERVER, 0.0, SECONDS, ("--shutdown-delay",),
           "on SIGTERM, say not ready (/readyz 503) at once but keep "
           "accepting for this long before draining, so that a load "
           "balancer (Kubernetes) stops sending first", "SECONDS"),
    # ASGI apps (mount_asgi, serve_asgi, and the command).
    Option("interface", COMMAND, "auto",
           Kind("one of " + ", ".join(INTERFACES), _accept_interface),
           ("--interface",),
           "how to call APP: asgi or asgi3 (await app(scope, receive, "
           "send)), asgi2 (a class, or app(scope) returning the coroutine "
           "function), wsgi, or auto: ASGI if APP is an async callable "
           "or a class, WSGI otherwise", cli={"choices": INTERFACES}),
    Option("lifespan", ASGI, "auto",
           Kind("one of " + ", ".join(LIFESPANS), _accept_choice(LIFESPANS)),
           ("--lifespan",),
           "run the ASGI app's lifespan (startup before serving, shutdown "
           "after the last request): auto serves an app that raises on it "
           "without it, on makes that a failure", cli={"choices": LIFESPANS}),
    Option("timeout_lifespan", ASGI, 60.0, TIMEOUT, ("--timeout-lifespan",),
           "how long the ASGI lifespan's startup, and its shutdown, may "
           "take; 0 for no limit", "SECONDS"),
    Option("loop", ASGI, "auto",
           Kind("one of " + ", ".join(LOOPS), _accept_choice(LOOPS)),
           ("--loop",),
           "the ASGI event loop: auto takes uvloop if it is installed",
           cli={"choices": LOOPS}),
    Option("root_path", ASGI, None, ROOT_PATH, ("--root-path",),
           "the path prefix a proxy took off the URL, for the ASGI "
           "scope's root_path (links the app makes start with it)", "PATH",
           shown="none"),
    # Worker processes (run()).
    Option("workers", RUN, 1, WORKERS, ("--workers", "-w"),
           "serve from N worker processes, all on the same sockets, run by "
           "a supervisor that restarts those that die and replaces them "
           "one by one on SIGHUP; 0 or auto for one per CPU (this machine: "
           "{cpus})", "N", shown="1, no supervisor"),
    Option("max_requests", RUN, None, LIMIT, ("--max-requests",),
           "replace a worker once it has handled about N requests that ran "
           "Python, to contain leaks in the app; starts a supervisor even "
           "with one worker", "N", shown="never"),
    Option("max_requests_jitter", RUN, 0, WHOLE, ("--max-requests-jitter",),
           "add a random 0 to N to each worker's --max-requests, so that "
           "workers do not all restart at once", "N"),
    Option("max_rss", RUN, None, LIMIT, ("--max-rss",),
           "replace a worker whose resident memory exceeds MIB mebibytes; "
           "starts a supervisor even with one worker", "MIB",
           shown="no limit"),
    # TCP keep-alive of accepted connections (go/listeners.go).
    Option("tcp_keepalive", LISTEN, 15,
           Kind("a whole number of seconds from 0 (none) to 32767",
                _int_in(0, 32767), _read_int),
           ("--tcp-keepalive",),
           "TCP keep-alive probes on accepted connections after SECONDS "
           "of silence, then every SECONDS; 9 unanswered close the "
           "connection (a client gone without a word, even while a "
           "handler holds its connection); 0 for none", "SECONDS",
           shown="15, as Go's net/http"),
)

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
DEFAULT: dict[str, Any] = {o.name: o.default for o in OPTIONS}


def check(name: str, value: Any) -> Any:
    """value of option name as the core takes it (see Option.check)."""
    return BY_NAME[name].check(value)


def check_all(given: dict[str, Any], where: tuple[str, ...],
              caller: str) -> dict[str, Any]:
    """Check the options given to caller, which takes those whose where
    is in where; TypeError for one it does not take."""
    checked = {}
    for name, value in given.items():
        option = BY_NAME.get(name)
        if option is None or option.where not in where:
            raise TypeError(f"{caller} got an unexpected keyword argument "
                            f"{name!r}")
        checked[name] = option.check(value)
    return checked


def listen_arguments(values: dict[str, Any]) -> dict[str, Any]:
    """The core's listen() keywords from a server's checked options: no
    limit is 0 there."""
    return {o.name: (0 if values[o.name] is None and o.kind is LIMIT
                     else values[o.name])
            for o in OPTIONS if o.where == LISTEN}


def check_together(values: dict[str, Any]) -> None:
    """The rules between options, on a server's checked options."""
    if values.get("keyfile") and not values.get("certfile"):
        raise ValueError("keyfile needs certfile: give both, or certfile "
                         "alone if it holds the key too")
    if not values.get("certfile"):
        for name in ("ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers"):
            if values.get(name):
                raise ValueError(f"{name} needs TLS: give certfile too")
        if values.get("ssl_cert_reqs", "none") != "none":
            raise ValueError("ssl_cert_reqs needs TLS: give certfile too")
    if (values.get("ssl_cert_reqs", "none") != "none"
            and not values.get("ssl_ca_certs")):
        raise ValueError("ssl_cert_reqs optional or required needs "
                         "ssl_ca_certs: the CA certificates that sign the "
                         "clients' certificates")
    if values.get("http3") and not values.get("certfile"):
        raise ValueError("http3 needs TLS: give certfile and keyfile "
                         "(QUIC is always encrypted)")
    for name in ("http3_bind", "http3_0rtt"):
        if values.get(name) and not values.get("http3"):
            raise ValueError(f"{name} is for HTTP/3: set http3 too")
    if values.get("http2_cleartext") and values.get("certfile"):
        raise ValueError("http2_cleartext is for servers without TLS: with "
                         "certfile, clients get HTTP/2 by ALPN")
