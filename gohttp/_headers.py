"""HTTP headers: case-insensitive, multi-valued, as Go's http.Header.

``Headers`` and ``canonical_key`` are implemented in C (ext/headers.c):
``w.header.set(...)`` runs in every response.  Keys are kept in Go's
canonical form ("content-type" → "Content-Type"), so a lookup in any case
finds them.  ``Headers._map`` is the dict {canonical key: [values]} inside,
which the WSGI adapter reads directly.
"""

from __future__ import annotations

from ._gohttp import Headers, canonical_key

__all__ = ["Headers", "canonical_key"]

# RFC 9110 token characters: what a header name may hold.
_TOKEN = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
