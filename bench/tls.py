"""bench/run.py's TLS section: hello world over TLS, HTTP/1.1 (wrk) and
HTTP/2 (h2load), and HTTP/2 beside HTTP/3 with one client for both
(bench/h3bench).  run.py imports it; bench/README.md says how to read it.

    python3 bench/run.py --tls [--rounds 2] [--duration 5]
"""

from __future__ import annotations

import argparse
import http.client
import re
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import run as R

CERT_DIR = R.BUILD / "tls"
CERT = CERT_DIR / "cert.pem"
KEY = CERT_DIR / "key.pem"
H3BENCH = R.BUILD / "h3bench"      # bench/h3bench: h2/h3 client + Go server
H2_CONNS, H2_STREAMS = 50, 10      # h2load -c 50 -m 10, and h3bench's too
TOOLS = {"h2load": "nghttp2-client"}
NO_H2 = {"tls-uvicorn": "uvicorn"}   # servers that speak no HTTP/2


def make_cert() -> None:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl CLI),
    made afresh each run into bench/.build/tls."""
    CERT_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    str(KEY), "-out", str(CERT), "-days", "2", "-subj",
                    f"/CN={R.HOST}", "-addext",
                    f"subjectAltName=IP:{R.HOST}"],
                   check=True, capture_output=True)


def build_h3bench(go: str) -> Optional[str]:
    """Build bench/h3bench (quic-go, from the Go module proxy on first
    use); returns why it failed, or None."""
    R.BUILD.mkdir(exist_ok=True)
    proc = subprocess.run([go, "build", "-o", str(H3BENCH), "."],
                          cwd=R.BENCH / "h3bench",
                          env=dict(R.os.environ, GOTOOLCHAIN="local"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"n/a (bench/h3bench did not build: {proc.stderr.strip()[-200:]})"
    return None


# --------------------------------------------------------------------------
# The rows.  "tls-*": HTTP/1.1 and HTTP/2 over TLS; "h3-*": HTTP/2 and
# HTTP/3 with bench/h3bench.

def tls_rows() -> list[R.Row]:
    py = R.gohttp_python()
    vbin = R.VENV / "bin"
    cert, key = str(CERT), str(KEY)

    def gohttp(app: str, *extra: str) -> Callable[[int], list[str]]:
        return lambda port: [py, str(R.BENCH / "apps" / "gohttp_tls.py"),
                             app, str(port), cert, key, *extra]

    def granian(*extra: str) -> Callable[[int], list[str]]:
        return lambda port: [str(vbin / "granian"), "--interface", "wsgi",
                             "--host", R.HOST, "--port", str(port),
                             "--workers", "1", "--ssl-certificate", cert,
                             "--ssl-keyfile", key, *extra,
                             "apps.wsgi_plain:app"]

    return [
        R.Row("tls-go", "pure Go net/http",
              lambda port: [str(R.GOHELLO), "-addr", f"{R.HOST}:{port}",
                            "-cert", cert, "-key", key], R.clean_env),
        R.Row("tls-gohttp", "gohttp native handler", gohttp("native"),
              R.gohttp_env),
        R.Row("tls-gohttp-wsgi", "gohttp WSGI",
              gohttp("apps.wsgi_plain:app"), R.gohttp_env),
        R.Row("tls-granian-wsgi", "granian WSGI", granian(), R.venv_env),
        R.Row("tls-granian-wsgi-bt1", "granian WSGI --blocking-threads 1",
              granian("--blocking-threads", "1"), R.venv_env),
        R.Row("tls-uvicorn", "uvicorn ASGI",
              lambda port: [str(vbin / "uvicorn"), "--host", R.HOST,
                            "--port", str(port), "--no-access-log",
                            "--log-level", "warning", "--ssl-certfile", cert,
                            "--ssl-keyfile", key, "apps.asgi_plain:app"],
              R.venv_env),
    ]


def h3_rows() -> list[R.Row]:
    py = R.gohttp_python()
    cert, key = str(CERT), str(KEY)

    def gohttp(app: str) -> Callable[[int], list[str]]:
        return lambda port: [py, str(R.BENCH / "apps" / "gohttp_tls.py"),
                             app, str(port), cert, key, "--http3"]

    return [
        R.Row("h3-go", "pure Go (net/http + quic-go http3)",
              lambda port: [str(H3BENCH), "-mode", "serve", "-addr",
                            f"{R.HOST}:{port}", "-cert", cert, "-key", key],
              R.clean_env),
        R.Row("h3-gohttp", "gohttp native handler --http3", gohttp("native"),
              R.gohttp_env),
        R.Row("h3-gohttp-wsgi", "gohttp WSGI --http3",
              gohttp("apps.wsgi_plain:app"), R.gohttp_env),
    ]


def row_names() -> list[str]:
    return [row.name for row in tls_rows() + h3_rows()]


def mark_skips(rows: list[R.Row], venv_error: Optional[str],
               h3bench_error: Optional[str]) -> None:
    gohttp_error, has_wsgi = R.probe_gohttp()
    for row in rows:
        if row.name.startswith("h3-") and h3bench_error:
            row.skip = h3bench_error
        elif "gohttp" in row.name and gohttp_error:
            row.skip = gohttp_error
        elif "wsgi" in row.name and "gohttp" in row.name and not has_wsgi:
            row.skip = "n/a (no WSGI adapter yet)"
        elif ("granian" in row.name or "uvicorn" in row.name) and venv_error:
            row.skip = "n/a (bench/.venv)"


class TLSServer(R.Server):
    """A Server whose readiness check speaks HTTPS."""

    def _get_root(self) -> tuple[int, bytes]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(R.HOST, self.port, timeout=2,
                                           context=context)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


# --------------------------------------------------------------------------
# The load generators.

def wrk_https(port: int, duration: float) -> R.Sample:
    url = f"https://{R.HOST}:{port}/"
    R.run_client(["wrk", "-t2", "-c50", f"-d{R.WARMUP:g}s", url],
                 timeout=R.WARMUP + 30)
    out = R.run_client(["wrk", "-t2", "-c50", f"-d{duration:g}s",
                        "--latency", url], timeout=duration + 30)
    return R.parse_wrk(out)


def parse_h2load(out: str) -> R.Sample:
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    if not m:
        raise RuntimeError(f"h2load said: {out.strip()[-300:]!r}")
    proto = re.search(r"Application protocol: (\S+)", out)
    if not proto or proto.group(1) != "h2":
        raise RuntimeError(f"h2load did not negotiate h2: {out[-300:]!r}")
    sample = R.Sample(float(m.group(1)))
    # h2load gives min, max, mean, sd of the request time: the mean here.
    t = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if t:
        sample.p50_ms = _ms(t.group(3))
    failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, "
                       r"\d+ succeeded, (\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, "
                      r"(\d+) 5xx", out)
    bad = []
    if failed and (failed.group(1) != "0" or failed.group(2) != "0"):
        bad.append(f"{failed.group(1)} failed, {failed.group(2)} errored")
    if codes and any(c != "0" for c in codes.groups()):
        bad.append("non-2xx: " + "/".join(codes.groups()))
    sample.errors = "; ".join(bad)
    return sample


def _ms(text: str) -> Optional[float]:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def h2load(port: int, duration: float) -> R.Sample:
    out = R.run_client(["h2load", "-c", str(H2_CONNS), "-m", str(H2_STREAMS),
                        "-t", "1", f"--warm-up-time={R.WARMUP:g}",
                        "-D", f"{duration:g}", f"https://{R.HOST}:{port}/"],
                       timeout=duration + R.WARMUP + 60)
    return parse_h2load(out)


def h3bench(port: int, proto: str, duration: float) -> R.Sample:
    out = R.run_client([str(H3BENCH), "-mode", "load", "-proto", proto,
                        "-url", f"https://{R.HOST}:{port}/", "-c",
                        str(H2_CONNS), "-m", str(H2_STREAMS), "-d",
                        f"{duration:g}s", "-warmup", f"{R.WARMUP:g}s"],
                       timeout=duration + R.WARMUP + 60)
    m = re.search(r"rate ([\d.]+) p50_ms ([\d.]+) p99_ms ([\d.]+) "
                  r"errors (\d+)", out)
    if not m:
        raise RuntimeError(f"h3bench said: {out.strip()[-300:]!r}")
    errors = f"{m.group(4)} requests failed" if m.group(4) != "0" else ""
    return R.Sample(float(m.group(1)), float(m.group(2)), float(m.group(3)),
                    errors=errors)


# --------------------------------------------------------------------------
# The run.

@dataclass
class Results:
    # samples[row][workload], one a round
    samples: dict[str, dict[str, list[R.Sample]]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)


TLS_WORKLOADS: dict[str, Callable[[int, float], R.Sample]] = {
    "https": wrk_https,
    "h2load": h2load,
}
H3_WORKLOADS: dict[str, Callable[[int, float], R.Sample]] = {
    "h2": lambda port, d: h3bench(port, "h2", d),
    "h3": lambda port, d: h3bench(port, "h3", d),
}


def measure(row: R.Row, workloads: dict[str, Callable[[int, float], R.Sample]],
            duration: float, round_no: int, found: Results) -> None:
    results = found.samples.setdefault(row.name, {})
    failures = found.failures.setdefault(row.name, [])
    try:
        server = TLSServer(row, R.free_port(), [],
                           R.BUILD / "logs" / f"tls-{row.name}.log")
    except RuntimeError as exc:
        failures.append(f"start: {exc}")
        R.log(f"  {row.name}: FAILED to start: {exc}")
        return
    parts = []
    try:
        for name, load in workloads.items():
            if name == "h2load" and row.name in NO_H2:
                continue
            try:
                other = R.OtherLoad(server.pid)
                sample = load(server.port, duration)
                sample.other_cpu = other.cores()
                sample.rss_mib = server.rss_mib()
                sample.round = round_no
                results.setdefault(name, []).append(sample)
                parts.append(f"{name} {sample.rps:,.0f}/s")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures.append(f"{name}: {exc}")
                parts.append(f"{name} FAILED")
                R.log(f"  {row.name}: {name} FAILED: {exc}")
            if server.proc.poll() is not None:
                failures.append(f"died: {server.tail()}")
                break
    finally:
        server.stop()
    R.log(f"  {row.name}: {', '.join(parts)}")


def run_tls(args: argparse.Namespace, rows: list[R.Row]) -> str:
    started = time.monotonic()
    found = Results()
    live = [row for row in rows if not row.skip]
    for r in range(args.rounds):
        R.log(f"tls round {r + 1}/{args.rounds}")
        for row in live:
            workloads = H3_WORKLOADS if row.name.startswith("h3-") \
                else TLS_WORKLOADS
            measure(row, workloads, args.duration, r + 1, found)
    return report(args, rows, found, time.monotonic() - started)


# --------------------------------------------------------------------------
# The report.

def _cells(samples: list[R.Sample], base: list[R.Sample],
           latency: list[str]) -> list[str]:
    rate = R.med([s.rps for s in samples])
    go = R.med([s.rps for s in base])
    ratio = rate / go if rate and go else None
    cells = [R.fmt(rate, ",.0f"), R.fmt(ratio, ".2f") + ("×" if ratio else ""),
             R.round_ratios(samples, base)]
    for attr in latency:
        cells.append(R.fmt(R.med([getattr(s, attr) for s in samples]), ".2f"))
    return cells


def _table(head: list[str], rows: list[R.Row], base: str, found: Results,
           columns: list[tuple[str, list[str]]], notes: list[str],
           disturbed: list[str]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|"]
    for row in rows:
        if row.skip:
            lines.append("| " + " | ".join([row.label, row.skip]
                                           + [""] * (len(head) - 2)) + " |")
            continue
        got = found.samples.get(row.name, {})
        cells = [row.label]
        for workload, latency in columns:
            cells += _cells(got.get(workload, []),
                            found.samples.get(base, {}).get(workload, []),
                            latency)
        rss = [s.rss_mib for ss in got.values() for s in ss]
        others = [s.other_cpu for ss in got.values() for s in ss]
        cells += [R.fmt(R.med(rss), ".1f"), R.fmt(R.med(others), ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
        for workload, ss in got.items():
            notes += [f"{row.label}, {workload}, round {s.round}: {s.errors}"
                      for s in ss if s.errors]
            busy = [f"{workload} r{s.round} {s.other_cpu:.2f}" for s in ss
                    if s.other_cpu is not None and s.other_cpu > R.DISTURBED]
            if busy:
                disturbed.append(f"{row.label}: {', '.join(busy)}")
        notes += [f"{row.label}: {f}" for f in found.failures.get(row.name, [])]
    return lines


def report(args: argparse.Namespace, rows: list[R.Row], found: Results,
           elapsed: float) -> str:
    h2load_version = R.version_of(["h2load", "--version"], r"nghttp2/(\S+)")
    out = ["## TLS: HTTP/1.1, HTTP/2 and HTTP/3", ""]
    out += R.machine_header()
    out.append(R.tools_header() + f"; h2load {h2load_version}")
    out.append(f"- a self-signed ECDSA P-256 certificate made at run time; "
               f"every server one process; {args.rounds} round(s) of "
               f"{args.duration:g} s after {R.WARMUP:g} s of the same load, "
               f"interleaved, a fresh server per row and round; the section "
               f"took {elapsed / 60:.1f} min")
    if args.quick:
        out.append("- **--quick smoke test: not a measurement to compare**")
    notes: list[str] = []
    disturbed: list[str] = []
    tls = [row for row in rows if row.name.startswith("tls-")]
    if tls:
        out += ["", "### HTTP/1.1 (wrk) and HTTP/2 (h2load) over TLS", "",
                f"HTTPS: `wrk -t2 -c50 --latency https://…/` (keep-alive). "
                f"h2: `h2load -c {H2_CONNS} -m {H2_STREAMS} -t 1` (ALPN h2; "
                f"h2load reports the mean request time, not percentiles). "
                f"Medians over rounds; × Go: over pure Go's median in the "
                f"same run; rounds × Go: the lowest and highest of one "
                f"round."]
        no_h2 = [NO_H2[row.name] for row in tls if row.name in NO_H2]
        if no_h2:
            out.append(f"No HTTP/2 in {', '.join(no_h2)}: no h2 figures "
                       f"(h2load would fall back to HTTP/1.1).")
        out.append("")
        head = ["server", "HTTPS req/s", "× Go", "rounds × Go", "p50 ms",
                "p99 ms", "h2 req/s", "× Go", "rounds × Go", "mean ms",
                "RSS MiB", "others"]
        out += _table(head, tls, "tls-go", found,
                      [("https", ["p50_ms", "p99_ms"]),
                       ("h2load", ["p50_ms"])], notes, disturbed)
    h3 = [row for row in rows if row.name.startswith("h3-")]
    if h3:
        out += ["", "### HTTP/2 beside HTTP/3, one client for both", "",
                f"`bench/h3bench` (Go: net/http's HTTP/2 transport, quic-go "
                f"v0.59.1's http3) keeps {H2_CONNS} connections of "
                f"{H2_STREAMS} streams each, a GET at a time per stream; h2 "
                f"is TLS over TCP, h3 QUIC over UDP, the same server "
                f"process.  The client is heavier than h2load, so its h2 "
                f"figures sit below the table above: compare rows within "
                f"this table.", ""]
        head = ["server", "h2 req/s", "× Go", "rounds × Go", "p50 ms",
                "p99 ms", "h3 req/s", "× Go", "rounds × Go", "p50 ms",
                "p99 ms", "RSS MiB", "others"]
        out += _table(head, h3, "h3-go", found,
                      [("h2", ["p50_ms", "p99_ms"]),
                       ("h3", ["p50_ms", "p99_ms"])], notes, disturbed)
        lines = []
        for row in h3:
            got = found.samples.get(row.name, {})
            h2r = R.med([s.rps for s in got.get("h2", [])])
            h3r = R.med([s.rps for s in got.get("h3", [])])
            if h2r and h3r:
                lines.append(f"{row.label} {h3r / h2r:.2f}×")
        if lines:
            out += ["", "h3 over h2, same server: " + "; ".join(lines) + "."]
    if notes:
        out += ["", "Errors reported during the run:", ""]
        out += [f"- {n}" for n in notes]
    if disturbed:
        out += ["", f"Measurements during which other processes used more "
                f"than {R.DISTURBED:g} of a core (workload, round, cores):",
                ""]
        out += [f"- {d}" for d in disturbed]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Instructions per request over HTTP/2: --tls --callgrind.

CALLGRIND_ROWS = ("tls-go", "tls-gohttp", "tls-gohttp-wsgi")


def h2load_n(port: int, conns: int, streams: int, n: int) -> None:
    out = R.run_client(["h2load", "-c", str(conns), "-m", str(streams),
                        "-t", "1", "-n", str(n), f"https://{R.HOST}:{port}/"],
                       timeout=1800)
    sample = parse_h2load(out)
    if sample.errors:
        raise RuntimeError(f"h2load: {sample.errors}")


def callgrind_row(row: R.Row, args: argparse.Namespace
                  ) -> tuple[list[int], str]:
    """The server's instructions per HTTP/2 request: after a warm-up, n
    requests on one connection, one stream at a time, then 5 × n on
    H2_CONNS connections of H2_STREAMS streams (h2load's load above)."""
    server = R.start_under_callgrind(row, TLSServer)
    if isinstance(server, str):
        return [], server
    per_request: list[int] = []
    try:
        h2load_n(server.port, H2_CONNS, H2_STREAMS, args.warmup_requests * 5)
        pids = R.process_tree(server.pid)
        for pid in pids:
            R.callgrind_control("--zero", pid)

        def dump(phase: int, requests: int) -> None:
            total = 0
            for pid in pids:
                R.callgrind_control("--dump", pid)
                total += R.dump_total(R.CALLGRIND_OUT /
                                      f"callgrind.out.{row.name}.{pid}.{phase}")
            per_request.append(round(total / requests))

        h2load_n(server.port, 1, 1, args.requests)
        dump(1, args.requests)
        h2load_n(server.port, H2_CONNS, H2_STREAMS, args.requests * 5)
        dump(2, args.requests * 5)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return per_request, f"failed under callgrind: {exc}; {server.tail()}"
    finally:
        server.stop()
    return per_request, ""


PARTS = ("Go runtime", "net/http", "crypto", "Go, other", "gohttp Go",
         "gohttp C", "CPython", "libc malloc", "other")


def part_of(path: str) -> str:
    """Which part of the server a source file of a dump belongs to."""
    if re.search(r"(^|/)ext/[^/]+\.[ch]$", path):
        return "gohttp C"
    if re.search(r"(^|/)gohttp/[^/]+\.go$", path):
        return "gohttp Go"
    if "runtime/" in path:
        return "Go runtime"
    if "net/http" in path:
        return "net/http"
    if "crypto" in path:
        return "crypto"
    if re.search(r"(^|/)(Python|Objects|Modules|Include|Parser)/", path):
        return "CPython"
    if path.endswith((".go", ".s")) or path == "<autogenerated>" or \
            path.endswith("/<autogenerated>"):
        return "Go, other"
    if path.endswith(("malloc.c", "arena.c")):
        return "libc malloc"
    return "other"


def dump_parts(path: Path) -> dict[str, int]:
    """A callgrind dump's self cost (Ir) by part of the server, from the
    source file each cost line is in: reliable where callgrind's function
    attribution of Go code is not (goroutine switches confuse its call
    stacks), and summing to the dump's total."""
    names: dict[str, str] = {}
    current = ""
    after_call = False
    total = dict.fromkeys(PARTS, 0)
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"(fl|fi|fe|cfi|cfl)=\((\d+)\)(?: (.*))?$",
                         line.rstrip("\n"))
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3)
                if m.group(1) in ("fl", "fi", "fe"):
                    current = part_of(names.get(m.group(2), ""))
                continue
            if line.startswith("calls="):
                after_call = True      # the next cost line is inclusive
                continue
            if line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                fields = line.split()
                if len(fields) >= 2 and current:
                    total[current] += int(fields[1])
    return total


def run_callgrind(args: argparse.Namespace, rows: list[R.Row]) -> str:
    R.ensure_tools(R.CALLGRIND_TOOLS)
    found: dict[str, list[int]] = {}
    notes = []
    for row in rows:
        if row.skip:
            continue
        # callgrind 3.19 sometimes aborts on a signal Go takes (threads.c:
        # vgCallgrind_post_signal, see README), here when h2load closes
        # its connections: a row gets three tries.
        for attempt in range(1, 4):
            R.log(f"tls callgrind: {row.name} (try {attempt})")
            found[row.name], why = callgrind_row(row, args)
            R.log(f"  {row.name}: {found[row.name]} {why}")
            if not why:
                break
        if why:
            notes.append(f"{row.label}: {why}")
    go = found.get("tls-go", [])
    out = ["## Instructions per request over HTTP/2 (callgrind)", ""]
    out += R.machine_header()
    out.append(f"- `valgrind --tool=callgrind` (GODEBUG=asyncpreemptoff=1, "
               f"PYTHONMALLOC=malloc), the whole server process; after "
               f"{args.warmup_requests * 5:,} requests of warm-up, "
               f"`h2load -c 1 -m 1 -n {args.requests}` (one connection, one "
               f"stream at a time), then `h2load -c {H2_CONNS} -m "
               f"{H2_STREAMS} -n {args.requests * 5}`; TLS handshakes "
               f"included (51 in all)")
    out += ["", "| server | Ir/req, 1 conn × 1 stream | × Go | Ir/req, "
            f"{H2_CONNS} conns × {H2_STREAMS} streams | × Go |",
            "|---|--:|--:|--:|--:|"]
    for row in rows:
        got = found.get(row.name, [])
        cells = [row.label]
        for i in range(2):
            ir = got[i] if len(got) > i else None
            base = go[i] if len(go) > i else None
            cells += [f"{ir:,}" if ir else (row.skip or "–"),
                      f"{ir / base:.2f}×" if ir and base else "–"]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", f"Where the instructions of the {H2_CONNS} × {H2_STREAMS} "
            f"phase go, by source file (Ir per request; the dumps stay in "
            f"`bench/.build/callgrind/`):", "",
            "| server | " + " | ".join(PARTS) + " |",
            "|---|" + "--:|" * len(PARTS)]
    for row in rows:
        dumps = sorted(R.CALLGRIND_OUT.glob(f"callgrind.out.{row.name}.*.2"))
        if row.skip or not dumps or len(found.get(row.name, [])) < 2:
            continue
        parts = dict.fromkeys(PARTS, 0)
        for dump in dumps:
            for k, v in dump_parts(dump).items():
                parts[k] += v
        n = args.requests * 5
        out.append("| " + " | ".join([row.label] + [
            f"{parts[k] / n:,.0f}" for k in PARTS]) + " |")
    if notes:
        out += ["", "Errors:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
