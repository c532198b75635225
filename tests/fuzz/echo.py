"""The echo handler both sides of the differential fuzzer serve: gohttp
here, pure Go net/http in goecho/main.go.  It answers with what it saw,
as JSON, every byte string as Latin-1 so that any byte survives."""

from __future__ import annotations

import json

import gohttp


def _latin1(s: str) -> str:
    """A field gohttp decoded as UTF-8 with surrogateescape, as the
    Latin-1 of its bytes (what goecho sends)."""
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def echo(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    seen = {
        "method": _latin1(req.method), "url": _latin1(req.url),
        "path": _latin1(req.path), "query": _latin1(req.query),
        "host": _latin1(req.host), "proto": _latin1(req.proto),
        # Header keys and values are already Latin-1.
        "headers": sorted([k, v] for k, v in req.headers.multi_items()),
        "content_length": req.content_length,
        "body": "", "body_error": False,
    }
    chunks = []
    try:
        while chunk := req.read(65536):
            chunks.append(chunk)
    except OSError:  # a body cut short, or one that breaks its framing
        seen["body_error"] = True
    seen["body"] = b"".join(chunks).decode("latin-1")
    w.header.set("Content-Type", "application/json")
    w.write(json.dumps(seen).encode())
