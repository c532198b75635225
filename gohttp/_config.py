"""Where the command's options come from, and in which order: the command
line, then ``GOHTTP_*`` environment variables, then a config file
(``-c gohttp.toml`` or ``-c gohttp.conf.py``), then the defaults.

Every rule here is generic over the one table, _options.OPTIONS: an
option the command takes (see Option.configurable) has

- an environment variable, ``GOHTTP_`` and its key in capitals
  (``--timeout-read`` is ``GOHTTP_TIMEOUT_READ``), whose text is read as
  the flag's would be; a repeatable option's items are separated by
  white space, and a flag's text says true or false (1/0, yes/no,
  on/off); an empty variable is not set;
- a key in a config file, the same key in lower case (``timeout_read``):
  TOML values, or a Python file's module-level names, are taken as
  ``gohttp.Server`` takes them (a str is read as the flag's text; a
  repeatable option takes a list).

A source that gives an option replaces what the sources below it give,
lists included.  Every value is checked where it is read, and a wrong one
says which option, which value and where it came from::

    gohttp: error: GOHTTP_WORKERS wants a number of worker processes, or
    0 or 'auto' for one per CPU, not 'many'
    gohttp: error: gohttp.toml:3: timeout_read must be a number of
    seconds (0 or more), or None for no limit, not -1
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from . import _options
from ._options import Option

PREFIX = "GOHTTP_"

# The options the command takes, and by their key.
OPTIONS: tuple[Option, ...] = tuple(o for o in _options.OPTIONS
                                    if o.configurable)
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}
# Not in a config file: the file itself.
NOT_IN_FILES = ("config",)

DEFAULT = "default"


class ConfigError(ValueError):
    """A wrong value, or a config file that cannot be read; the message
    names the option, the value and where it came from."""


@dataclass(frozen=True)
class Setting:
    """One option's value, checked, and where it came from:
    "command line", "GOHTTP_WORKERS", "gohttp.toml:3" or "default"."""

    value: Any
    source: str


def env_names(option: Option) -> tuple[str, ...]:
    """The environment variables option is read from, first first."""
    return (PREFIX + option.key.upper(), *option.env)


def _joined(values: Iterable[Any]) -> Optional[list[Any]]:
    """A repeatable option's value from its items' values (each a list,
    as Option.read gives one)."""
    items = [item for value in values for item in (value or [])]
    return items or None


def read_text(option: Option, text: str, spelled: str) -> Any:
    """option's value from text, in the environment's syntax."""
    if option.repeatable:
        return _joined(option.read(item, spelled=spelled)
                       for item in text.split())
    return option.read(text, spelled=spelled)


def from_environment(environ: Mapping[str, str]) -> dict[str, Setting]:
    """The options environ sets, by name; ConfigError for a wrong
    value."""
    found = {}
    for option in OPTIONS:
        for name in env_names(option):
            text = environ.get(name, "")
            if not text.strip():
                continue
            try:
                value = read_text(option, text, name)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            found[option.name] = Setting(value, name)
            break
    return found


def _take(option: Option, value: Any, spelled: str) -> Any:
    """option's value from a config file's value: a str as the flag's
    text, anything else as gohttp.Server takes it."""
    if option.repeatable and isinstance(value, (list, tuple)):
        return _joined(_take(option, item, spelled) for item in value)
    if isinstance(value, str):
        return option.read(value, spelled=spelled)
    try:
        return option.check(value, spelled=spelled)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _line_of(text: str, key: str) -> Optional[int]:
    """The line of text where key is first given a value, if found."""
    spellings = "|".join(re.escape(k) for k in {key, key.replace("_", "-")})
    found = re.search(rf"^[ \t]*[\"']?(?:{spellings})[\"']?[ \t]*(?::[^=\n]*)?=",
                      text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _near(key: str) -> str:
    close = difflib.get_close_matches(key, list(BY_KEY), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def from_file(path: str) -> dict[str, Setting]:
    """The options the config file at path sets, by name: TOML if its
    name ends in .toml, Python if in .py; ConfigError if it cannot be
    read or a value is wrong."""
    def wrong(problem: str) -> ConfigError:
        return ConfigError(f"--config {path}: {problem}")

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise wrong(exc.strerror or str(exc)) from None
    text = data.decode("utf-8", "replace")
    if path.endswith(".toml"):
        values = _toml(data, wrong)
        python = False
    elif path.endswith(".py"):
        values = _python(data, path, wrong)
        python = True
    else:
        raise wrong("want a .toml file, or a .py file of Python")
    found = {}
    for name, value in values.items():
        key = name.replace("-", "_")
        line = _line_of(text, name)
        where = f"{path}:{line}" if line else path
        option = BY_KEY.get(key)
        if option is None or key in NOT_IN_FILES:
            if python and (key.startswith("_") or not _near(key)):
                continue  # the file's own names, as gunicorn ignores them
            why = ("a config file cannot name another" if key in NOT_IN_FILES
                   else f"no such option{_near(key)}")
            raise ConfigError(f"{where}: {name}: {why}")
        try:
            found[option.name] = Setting(
                _take(option, value, f"{where}: {key}"), where)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return found


def _toml(data: bytes, wrong: Any) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:
            raise wrong("a TOML file needs Python 3.11, or tomli on Python "
                        "3.10: pip install tomli (or write the file in "
                        "Python: gohttp.conf.py)") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise wrong(f"not valid TOML: {exc}") from None


def _python(data: bytes, path: str, wrong: Any) -> dict[str, Any]:
    """The module-level names of the Python file at path, run as
    gunicorn runs its -c file; modules, functions and classes left
    out."""
    namespace: dict[str, Any] = {"__file__": os.path.abspath(path),
                                 "__name__": "__config__"}
    try:
        exec(compile(data, path, "exec"), namespace)
    except Exception as exc:
        traceback.print_exc()
        raise wrong(f"running it raised {type(exc).__name__}: {exc}"
                    ) from None
    return {name: value for name, value in namespace.items()
            if not name.startswith("__")
            and not callable(value)
            and not isinstance(value, types.ModuleType)}


def resolve(given: Mapping[str, Setting],
            environ: Mapping[str, str]) -> dict[str, Setting]:
    """Every option the command takes, by name: given (the command line)
    over environ over the config file either names over the defaults."""
    env = from_environment(environ)
    config = given.get("config") or env.get("config")
    in_file = from_file(config.value) if config is not None else {}
    resolved = {}
    for option in OPTIONS:
        for layer in (given, env, in_file):
            if option.name in layer:
                resolved[option.name] = layer[option.name]
                break
        else:
            resolved[option.name] = Setting(option.default, DEFAULT)
    return resolved


def whence(message: str, resolved: Mapping[str, Setting]) -> str:
    """message, which may name options (by flag, or by the keyword of
    gohttp.Server), with where those that did not come from the command
    line came from: "keyfile needs certfile (keyfile: GOHTTP_KEYFILE)"."""
    found = []
    for option in OPTIONS:
        setting = resolved.get(option.name)
        if setting is None or setting.source in (DEFAULT, "command line"):
            continue
        words = [re.escape(f) for f in option.flags if f.startswith("--")]
        if option.where != _options.COMMAND:
            words.append(re.escape(option.name))
        if words and re.search(rf"(?<![\w-])(?:{'|'.join(words)})(?![\w-])",
                               message):
            found.append(f"{option.key}: {setting.source}")
    return f"{message} ({'; '.join(found)})" if found else message


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if type(value) in (list, tuple):  # not a NamedTuple: str() says it
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def render(resolved: Mapping[str, Setting]) -> str:
    """resolved as a TOML config file that -c reads back, each line
    saying where its value came from; an option without a value is a
    comment, and a secret is hidden."""
    lines = ["# gohttp's configuration: the command line over GOHTTP_* "
             "variables over", "# the config file over the defaults."]
    rows = []
    for option in OPTIONS:
        setting = resolved[option.name]
        if setting.value is None:
            shown = (option.default_text if setting.source == DEFAULT
                     else "none")
            text = f"# {option.key}: {shown}"
        elif option.key in NOT_IN_FILES:
            text = f"# {option.key}: {setting.value}"
        elif option.kind is _options.SECRET:
            text = f'{option.key} = "********"'
        else:
            text = f"{option.key} = {_toml_value(setting.value)}"
        rows.append((text, setting.source))
    width = min(max(len(text) for text, _ in rows), 40)
    lines += [f"{text:<{width}}  # {source}" for text, source in rows]
    return "\n".join(lines) + "\n"
