"""Differential fuzzing of whole HTTP/1.1 requests: the same raw bytes,
mutated from the seed corpus in requests/, go to gohttp and to pure Go
net/http (goecho/) serving the same echo handler (echo.py) over real
sockets; the responses' status lines, and what the handler saw, must
match.  Both are net/http underneath: any difference is gohttp's.

    python tests/fuzz/diff.py --goecho build/fuzz/goecho --time 60 [--seed N]

Each difference is written to build/fuzz/found/ (the request, both
answers) and fails the run; kept as a seed in requests/, it is checked
again on every run first.  Seeds only: --time 0.

One difference is by design and left out: a body that fails part way
(cut short, a bad chunk) gives a net/http handler the bytes before the
failure with the error, and a gohttp handler the error alone, since
req.read(n) keeps Python's file contract (fewer than n bytes only at the
end of the body, so that read(content_length) once is the whole body or
an exception).  So when both handlers saw the body fail, only that is
compared.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import gohttp  # noqa: E402
from echo import echo  # noqa: E402

TIMEOUT = 5.0

# Bytes the mutator splices in: the pieces request smuggling is made of.
TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b"\x00", b"\x7f", b"\xff", b";", b",", b"?", b"#",
    b"%", b"%00", b"%2f", b"/../", b"//", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0",
    b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n", b"Content-Length: 0\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n", b"Transfer-Encoding: identity\r\n",
    b"Host: other\r\n", b"Host: \r\n", b"Expect: 100-continue\r\n", b"Connection: close\r\n",
    b"Connection: keep-alive\r\n", b"0\r\n\r\n", b"ffffffffffffffff\r\n", b"5;ext=1\r\n",
    b"-1", b"+5", b"0x5", b"99999999999999999999", b" folded\r\n", b"GET / HTTP/1.1\r\n",
    b"X-Forwarded-For: 1.2.3.4\r\n", b"Trailer: X\r\n", b"http://h/", b"*", b"CONNECT", b"PRI",
]


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        at = rng.randint(0, len(b))
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b[at:at] = rng.choice(TOKENS)
        elif op == 2 and b:
            b[at:at + rng.randint(1, 8)] = b""
        elif op == 3:
            lines = bytes(b).split(b"\r\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            b = bytearray(b"\r\n".join(lines))
        elif op == 4:
            b = bytearray(bytes(b).replace(b"\r\n", b"\n", rng.randint(1, 3)))
        elif op == 5:
            numbers = list(re.finditer(rb"\d+", bytes(b)))
            if numbers:
                m = rng.choice(numbers)
                b[m.start():m.end()] = str(rng.choice(
                    [0, 1, 2, 7, 64, 65536, 2**31, 2**63, -1])).encode()
        else:
            other = rng.choice(seeds)
            cut = rng.randint(0, len(other))
            b = b[:at] + other[cut:]
    return bytes(b)


def exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send data, close the sending side, read until the server closes.
    A server may answer and close before it has read everything (a 431
    for a huge header): what it answered counts, not how the socket
    ended, which is a race."""
    chunks = []
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except socket.timeout:
            chunks.append(b"<timeout>")
        except OSError:
            pass
    return b"".join(chunks)


def responses(raw: bytes) -> list[object]:
    """The responses in raw, each as (status line, Location, what the
    handler saw or the body), without the headers that differ by nature
    (Date)."""
    out: list[object] = []
    try:
        _parse(raw, out)
    except ValueError:
        out.append(("unparsable", raw))
    return out


def _parse(raw: bytes, out: list[object]) -> None:
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/"):
            out.append(("trailing bytes", raw))
            break
        lines = head.split(b"\r\n")
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            fields[k.strip().lower()] = v.strip()
        status = lines[0]
        # A HEAD response declares a body it does not send; no body here
        # starts like a response (the echo's is JSON).
        if rest.startswith(b"HTTP/1."):
            out.append((status, fields.get(b"location"), b""))
            raw = rest
            continue
        if status[9:10] == b"1":  # 100 Continue: no body, more to come
            out.append((status, None, b""))
            raw = rest
            continue
        if b"content-length" in fields:
            n = int(fields[b"content-length"])
            body, raw = rest[:n], rest[n:]
        elif fields.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                size, _, rest = rest.partition(b"\r\n")
                n = int(size.split(b";")[0] or b"0", 16)
                body, rest = body + rest[:n], rest[n + 2:]
                if n == 0:
                    break
            raw = rest
        else:
            body, raw = rest, b""
        if fields.get(b"content-type") == b"application/json":
            try:
                body = json.loads(body)
            except ValueError:
                pass
            else:
                if body.get("body_error"):
                    body["body"] = "(failed part way)"
        out.append((status, fields.get(b"location"), body))


def start_goecho(path: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    proc = subprocess.Popen([path], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    host, _, port = proc.stdout.readline().strip().rpartition(":")
    return proc, (host, int(port))


def check(gohttp_addr: tuple[str, int], go_addr: tuple[str, int],
          data: bytes) -> Optional[tuple[list[object], list[object]]]:
    """None if both answer data alike, else both answers."""
    ours, theirs = responses(exchange(gohttp_addr, data)), responses(exchange(go_addr, data))
    return None if ours == theirs else (ours, theirs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goecho", required=True, help="the goecho binary")
    ap.add_argument("--time", type=float, default=60.0, help="seconds of mutation after the seeds")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the time)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    files = sorted((HERE / "requests").iterdir())
    seeds = [f.read_bytes() for f in files]

    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=2.0)
    srv.handle("/", echo)
    srv.start()
    proc, go_addr = start_goecho(args.goecho)
    found = 0
    runs = 0
    try:
        todo = [(f.name, d) for f, d in zip(files, seeds)]
        deadline = time.monotonic() + args.time
        while todo or time.monotonic() < deadline:
            name, data = todo.pop(0) if todo else ("mutant", mutate(rng, rng.choice(seeds), seeds))
            runs += 1
            diff = check(srv.address, go_addr, data)
            if diff is None:
                continue
            found += 1
            out = HERE.parent.parent / "build" / "fuzz" / "found"
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"diff-{seed}-{runs}.txt"
            path.write_text(f"request ({name}): {data!r}\ngohttp: {diff[0]!r}\nnet/http: {diff[1]!r}\n")
            print(f"diff.py: {name}: gohttp and net/http differ; see {path}", file=sys.stderr)
            if found >= 10:
                break
    finally:
        proc.kill()
        proc.wait()
        srv.shutdown()
    print(f"diff.py: {runs} requests ({len(seeds)} seeds), seed {seed}, {found} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
