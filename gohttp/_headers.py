"""HTTP headers: case-insensitive, multi-valued, as Go's http.Header.

``Headers`` and ``canonical_key`` are implemented in C (ext/headers.c):
``w.header.set(...)`` runs in every response.  Keys are kept in Go's
canonical form ("content-type" → "Content-Type"), so a lookup in any case
finds them.  ``Headers._map`` is the dict {canonical key: [values]} inside,
which the WSGI adapter reads directly.

A Headers is a ``collections.abc.Mapping`` of each key to its first value
(as Go's Header.Get): ``h[key]``, ``keys()``, ``values()``, ``items()`` and
``dict(h)`` agree; ``get_all(key)`` and ``multi_items()`` give every value.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._gohttp import Headers, canonical_key

__all__ = ["Headers", "canonical_key"]

Mapping.register(Headers)

# RFC 9110 token characters: what a header name may hold.
_TOKEN = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
