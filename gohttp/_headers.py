"""HTTP headers: case-insensitive, multi-valued, as Go's http.Header.

Keys are kept in Go's canonical form ("content-type" → "Content-Type"),
so a lookup in any case finds them.  The C extension reads ``_map``
directly ({canonical key: [values]}) to hand response headers to Go in
one call; it must stay a dict of lists of str.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Union

__all__ = ["Headers", "canonical_key"]

_TOKEN = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_cache: dict[str, str] = {}
_CACHE_MAX = 1024


def canonical_key(key: str) -> str:
    """Return key in Go's canonical header form: ``"x-request-id"`` →
    ``"X-Request-Id"``.  A key that is not a valid header name comes back
    unchanged, as Go's textproto.CanonicalMIMEHeaderKey does."""
    canonical = _cache.get(key)
    if canonical is not None:
        return canonical
    if not key or not _TOKEN.issuperset(key):
        return key
    canonical = "-".join(part[:1].upper() + part[1:].lower()
                         for part in key.split("-"))
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[key] = canonical
    return canonical


def _checked_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"header name must be str, not {type(key).__name__}")
    canonical = _cache.get(key)
    if canonical is not None:  # only valid names are cached
        return canonical
    if not key or not _TOKEN.issuperset(key):
        raise ValueError(f"invalid header name {key!r}: use letters, digits "
                         "and !#$%&'*+-.^_`|~ only")
    return canonical_key(key)


def _checked_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"value of header {key!r} must be str, not "
                        f"{type(value).__name__}: convert it with str()")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"value of header {key!r} contains CR, LF or NUL, "
                         f"which would split the response: {value!r}")
    return value


class Headers:
    """Case-insensitive, multi-valued HTTP headers.

    ``w.header`` is a mutable Headers; ``req.headers`` a read-only one.

    >>> h = Headers()
    >>> h.set("content-type", "text/plain")
    >>> h.add("Set-Cookie", "a=1"); h.add("set-cookie", "b=2")
    >>> h.get("Content-Type"), h.get_all("SET-COOKIE")
    ('text/plain', ['a=1', 'b=2'])
    >>> "content-TYPE" in h, sorted(h)
    (True, ['Content-Type', 'Set-Cookie'])
    """

    __slots__ = ("_map", "_readonly")

    def __init__(
        self,
        items: Union[Mapping[str, str], Iterable[tuple[str, str]], None] = None,
        /,
    ) -> None:
        self._map: dict[str, list[str]] = {}
        self._readonly = False
        if items is not None:
            pairs = items.items() if isinstance(items, Mapping) else items
            for key, value in pairs:
                self.add(key, value)

    @classmethod
    def _frozen(cls, map: dict[str, list[str]]) -> "Headers":
        """A read-only Headers that takes over map (keys canonical)."""
        self = object.__new__(cls)
        self._map = map
        self._readonly = True
        return self

    def _check_writable(self) -> None:
        if self._readonly:
            raise TypeError("these headers are read-only (request headers "
                            "cannot change; set response headers on w.header)")

    # Reading.
    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of key, or default if there is none."""
        values = self._map.get(canonical_key(key))
        return values[0] if values else default

    def get_all(self, key: str) -> list[str]:
        """Every value of key, in order; [] if there is none."""
        return list(self._map.get(canonical_key(key), ()))

    values = get_all  # Go's Header.Values

    def items(self) -> Iterator[tuple[str, str]]:
        """Every (key, value) pair; a key with several values comes once
        per value."""
        for key, values in self._map.items():
            for value in values:
                yield key, value

    def keys(self) -> list[str]:
        return list(self._map)

    def __getitem__(self, key: str) -> str:
        values = self._map.get(canonical_key(key))
        if not values:
            raise KeyError(key)
        return values[0]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and canonical_key(key) in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._map))

    def __len__(self) -> int:
        return len(self._map)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._map == other._map
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self.items())!r})"

    def copy(self) -> "Headers":
        """A mutable copy."""
        new = Headers()
        new._map = {key: list(values) for key, values in self._map.items()}
        return new

    # Writing.
    def set(self, key: str, value: str) -> None:
        """Replace every value of key with value."""
        self._check_writable()
        key = _checked_key(key)
        self._map[key] = [_checked_value(key, value)]

    def add(self, key: str, value: str) -> None:
        """Add value to those of key."""
        self._check_writable()
        key = _checked_key(key)
        value = _checked_value(key, value)
        self._map.setdefault(key, []).append(value)

    def delete(self, key: str) -> None:
        """Remove every value of key; nothing happens if there is none."""
        self._check_writable()
        self._map.pop(canonical_key(key), None)

    def __setitem__(self, key: str, value: str) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self._check_writable()
        try:
            del self._map[canonical_key(key)]
        except KeyError:
            raise KeyError(key) from None
