"""TLS for production: client certificates (mutual TLS) seen by native
handlers and WSGI apps, the minimum version and TLS 1.2 cipher suites,
password-protected keys, and certificates reloaded while serving, with
real clients: Python's ssl and urllib3, curl, openssl s_client."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, refuses_connections
from helpers.net import (curl, key_pair, make_key_pair,  # noqa: F401
                         needs_curl, needs_openssl)
from test_cli import gohttp_command, stop

pytestmark = needs_openssl


def openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr


@dataclass
class ClientPKI:
    ca: Path      # the CA's certificate: ssl_ca_certs
    cert: Path    # a client certificate the CA signed
    key: Path
    stranger_cert: Path   # a client certificate no trusted CA signed
    stranger_key: Path


def _ec_key_and_csr(directory: Path, name: str, subject: str) -> None:
    openssl("req", "-new", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(directory / f"{name}.key"),
            "-out", str(directory / f"{name}.csr"), "-subj", subject)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClientPKI:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(d / f"{ca}.key"), "-out", str(d / f"{ca}.crt"),
                "-days", "2", "-subj", f"/CN=gohttp test {ca}")
    ext = d / "client.ext"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    for client, ca in (("alice", "ca"), ("mallory", "other-ca")):
        _ec_key_and_csr(d, client, f"/CN={client}")
        openssl("x509", "-req", "-in", str(d / f"{client}.csr"),
                "-CA", str(d / f"{ca}.crt"), "-CAkey", str(d / f"{ca}.key"),
                "-CAcreateserial", "-days", "2", "-extfile", str(ext),
                "-out", str(d / f"{client}.crt"))
    return ClientPKI(d / "ca.crt", d / "alice.crt", d / "alice.key",
                     d / "mallory.crt", d / "mallory.key")


def der(pem_file: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_file.read_text())


def show_tls(w, req):
    """The handler that tells what req.tls holds, as JSON."""
    tls = req.tls
    if tls is not None:
        tls = dict(tls)
        tls["client_cert_chain"] = [base64.b64encode(c).decode()
                                    for c in tls["client_cert_chain"]]
    w.header.set("Content-Type", "application/json")
    w.write(json.dumps(tls))


SSL_KEYS = ("HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI",
            "SSL_CLIENT_VERIFY", "SSL_CLIENT_CERT")


def show_ssl_environ(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({k: environ[k] for k in SSL_KEYS
                        if k in environ}).encode()]


def client_context(server_cert: Path, cert: Path | None = None,
                   key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def get_over(ctx: ssl.SSLContext, address, path: str,
             server_name: str = "localhost") -> bytes:
    """GET path over a fresh TLS connection made with ctx: the raw
    response, or b"" if the server cut the connection (a refused client
    certificate shows only when the client reads, under TLS 1.3)."""
    with socket.create_connection(address, timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            data = b""
            try:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                          f"Connection: close\r\n\r\n".encode())
                while chunk := s.recv(65536):
                    data += chunk
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                pass
            return data


def body_json(response: bytes):
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), response
    return json.loads(body)


def mtls_server(make_server, key_pair, pki, reqs):
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      ssl_ca_certs=pki.ca, ssl_cert_reqs=reqs)
    srv.handle("/tls", show_tls)
    srv.mount_wsgi("/wsgi", show_ssl_environ)
    return srv


# ---- mutual TLS -----------------------------------------------------------

def test_required_client_certificate_reaches_handlers(make_server, key_pair,
                                                      pki):
    srv = mtls_server(make_server, key_pair, pki, "required")
    ctx = client_context(key_pair.cert, pki.cert, pki.key)
    tls = body_json(get_over(ctx, srv.address, "/tls"))
    chain = [base64.b64decode(c) for c in tls.pop("client_cert_chain")]
    assert chain == [der(pki.cert), der(pki.ca)]  # leaf first, then the CA
    assert tls == {"version": "TLSv1.3", "cipher": tls["cipher"],
                   "server_name": "localhost", "alpn": None}
    assert tls["cipher"].startswith("TLS_")

    environ = body_json(get_over(ctx, srv.address, "/wsgi/"))
    assert environ.pop("SSL_CLIENT_CERT") == ssl.DER_cert_to_PEM_cert(
        der(pki.cert))
    assert environ == {"HTTPS": "on", "SSL_PROTOCOL": "TLSv1.3",
                       "SSL_CIPHER": tls["cipher"],
                       "SSL_TLS_SNI": "localhost",
                       "SSL_CLIENT_VERIFY": "SUCCESS"}


def test_required_refuses_clients_without_a_trusted_certificate(
        make_server, key_pair, pki):
    srv = mtls_server(make_server, key_pair, pki, "required")
    for cert, key in ((None, None), (pki.stranger_cert, pki.stranger_key)):
        ctx = client_context(key_pair.cert, cert, key)
        try:
            answer = get_over(ctx, srv.address, "/tls")
        except ssl.SSLError:  # TLS 1.2 fails in the handshake itself
            answer = b""
        assert not answer.startswith(b"HTTP"), cert
    # The server goes on serving those who have one.
    ok = client_context(key_pair.cert, pki.cert, pki.key)
    assert body_json(get_over(ok, srv.address, "/tls"))["version"]


def test_optional_client_certificate(make_server, key_pair, pki):
    srv = mtls_server(make_server, key_pair, pki, "optional")
    anonymous = client_context(key_pair.cert)
    assert body_json(get_over(anonymous, srv.address, "/tls"))[
        "client_cert_chain"] == []
    environ = body_json(get_over(anonymous, srv.address, "/wsgi/"))
    assert environ["SSL_CLIENT_VERIFY"] == "NONE"
    assert "SSL_CLIENT_CERT" not in environ
    known = client_context(key_pair.cert, pki.cert, pki.key)
    assert len(body_json(get_over(known, srv.address, "/tls"))[
        "client_cert_chain"]) == 2
    # A certificate no trusted CA signed is refused, even when optional.
    stranger = client_context(key_pair.cert, pki.stranger_cert,
                              pki.stranger_key)
    assert not get_over(stranger, srv.address, "/tls").startswith(b"HTTP")


def test_urllib3_with_a_client_certificate_and_http2_alpn(make_server,
                                                          key_pair, pki):
    srv = mtls_server(make_server, key_pair, pki, "required")
    pool = urllib3.PoolManager(ca_certs=str(key_pair.cert),
                               cert_file=str(pki.cert),
                               key_file=str(pki.key), retries=False,
                               timeout=TIMEOUT)
    try:
        r = pool.request("GET", f"https://localhost:{srv.port}/tls")
        assert r.status == 200
        assert r.json()["alpn"] == "http/1.1"
    finally:
        pool.clear()


@needs_curl
def test_curl_with_and_without_a_client_certificate(make_server, key_pair,
                                                    pki):
    srv = mtls_server(make_server, key_pair, pki, "required")
    url = f"https://localhost:{srv.port}/tls"
    proc = curl("--cacert", str(key_pair.cert), "--cert", str(pki.cert),
                "--key", str(pki.key), url)
    assert proc.returncode == 0, proc.stderr
    tls = json.loads(proc.stdout)
    assert base64.b64decode(tls["client_cert_chain"][0]) == der(pki.cert)
    assert tls["alpn"] in ("h2", "http/1.1")
    proc = curl("--cacert", str(key_pair.cert), url)
    assert proc.returncode != 0 and not proc.stdout


def test_tls_is_none_in_cleartext_and_no_ssl_keys(make_server, http):
    srv = make_server()
    srv.handle("/tls", show_tls)
    srv.mount_wsgi("/wsgi", show_ssl_environ)
    assert http.request("GET", srv.url + "/tls").json() is None
    assert http.request("GET", srv.url + "/wsgi/").json() == {}


def test_tls_mapping_is_read_only_and_ends_with_the_handler(make_server,
                                                            key_pair):
    seen = []

    def handler(w, req):
        tls = req.tls
        assert req.tls is tls  # made once
        try:
            tls["version"] = "SSLv2"
        except TypeError as exc:
            seen.append(exc)
        seen.append(req)
        w.write(tls["version"])

    srv = make_server(certfile=key_pair.combined)
    srv.handle("/", handler)
    ctx = client_context(key_pair.cert)
    assert get_over(ctx, srv.address, "/").endswith(b"TLSv1.3")
    assert isinstance(seen[0], TypeError)
    with pytest.raises(gohttp.RequestFinishedError):
        seen[1].tls


def test_client_certificate_options_are_checked(key_pair, pki):
    with pytest.raises(ValueError, match="needs ssl_ca_certs"):
        gohttp.Server(certfile=key_pair.combined, ssl_cert_reqs="required")
    with pytest.raises(ValueError, match="needs TLS"):
        gohttp.Server(ssl_ca_certs=pki.ca, ssl_cert_reqs="optional")
    with pytest.raises(ValueError, match="ssl_cert_reqs must be"):
        gohttp.Server(certfile=key_pair.combined, ssl_cert_reqs="always")
    srv = gohttp.Server(certfile=key_pair.combined, ssl_ca_certs=pki.ca,
                        ssl_cert_reqs=ssl.CERT_REQUIRED)  # uvicorn's form
    assert srv._options["ssl_cert_reqs"] == "required"


def test_a_ca_file_without_certificates(tmp_path, key_pair):
    junk = tmp_path / "ca.pem"
    junk.write_text("no certificates here")
    refused_before_listening(ValueError, "holds no PEM certificate",
                             certfile=key_pair.combined, ssl_ca_certs=junk,
                             ssl_cert_reqs="required")


# ---- versions and cipher suites -------------------------------------------

def refused_before_listening(error, match, **options):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = gohttp.Server("127.0.0.1", port, **options)
    with pytest.raises(error, match=match):
        srv.start()
    assert not srv.serving
    assert refuses_connections(("127.0.0.1", port))


def tls12_client(server_cert: Path) -> ssl.SSLContext:
    ctx = client_context(server_cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def test_tls_1_2_by_default_and_1_3_when_asked(make_server, key_pair):
    srv = make_server(certfile=key_pair.combined)
    srv.handle("/tls", show_tls)
    old = tls12_client(key_pair.cert)
    assert body_json(get_over(old, srv.address, "/tls"))[
        "version"] == "TLSv1.2"

    strict = make_server(certfile=key_pair.combined,
                         ssl_min_version="TLSv1.3")
    strict.handle("/tls", show_tls)
    with pytest.raises(ssl.SSLError):
        get_over(old, strict.address, "/tls")
    assert body_json(get_over(client_context(key_pair.cert), strict.address,
                              "/tls"))["version"] == "TLSv1.3"


def s_client(address, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"{address[0]}:{address[1]}",
         "-brief", *args], stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=TIMEOUT)


def test_openssl_s_client_sees_the_minimum_version(make_server, key_pair):
    srv = make_server(certfile=key_pair.combined, ssl_min_version="1.3")
    assert s_client(srv.address, "-tls1_2").returncode != 0
    proc = s_client(srv.address, "-tls1_3")
    assert proc.returncode == 0, proc.stderr
    assert "Protocol version: TLSv1.3" in proc.stderr


def test_tls_1_2_cipher_suites(make_server, key_pair):
    # The key is ECDSA; HTTP/2 requires the AES-128-GCM suite.
    suite = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    srv = make_server(certfile=key_pair.combined, ssl_ciphers=(
        f"{suite}, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"))
    srv.handle("/tls", show_tls)
    ctx = tls12_client(key_pair.cert)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    assert body_json(get_over(ctx, srv.address, "/tls"))["cipher"] == suite
    ctx.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")  # not in the list
    with pytest.raises(ssl.SSLError):
        get_over(ctx, srv.address, "/tls")
    proc = s_client(srv.address, "-tls1_2", "-cipher",
                    "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("options, match", [
    ({"ssl_ciphers": "ECDHE-RSA-AES128-GCM-SHA256"},
     "unknown cipher suite \"ECDHE-RSA-AES128-GCM-SHA256\".*"
     "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ({"ssl_ciphers": "TLS_AES_128_GCM_SHA256"}, "TLS 1.3 suite"),
    ({"ssl_ciphers": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
     "HTTP/2 requires"),
])
def test_bad_cipher_suites_are_refused_before_listening(key_pair, options,
                                                        match):
    refused_before_listening(ValueError, match, certfile=key_pair.combined,
                             **options)


@pytest.mark.parametrize("spelled, version", [
    ("1.3", "1.3"), ("TLSv1.3", "1.3"), ("tls1.2", "1.2"),
    (ssl.TLSVersion.TLSv1_3, "1.3"), (1.2, "1.2")])
def test_min_version_spellings(key_pair, spelled, version):
    srv = gohttp.Server(certfile=key_pair.combined, ssl_min_version=spelled)
    assert srv._options["ssl_min_version"] == version


@pytest.mark.parametrize("version", ["1.1", "TLSv1", "3", "",
                                     ssl.TLSVersion.TLSv1_1])
def test_bad_min_version(key_pair, version):
    with pytest.raises(ValueError, match="ssl_min_version must be"):
        gohttp.Server(certfile=key_pair.combined, ssl_min_version=version)


# ---- password-protected keys ----------------------------------------------

@pytest.fixture
def legacy_key(tmp_path, key_pair) -> Path:
    """key_pair's key encrypted the legacy PEM way, password "s3cret"."""
    out = tmp_path / "legacy.key"
    openssl("pkey", "-in", str(key_pair.key), "-traditional", "-aes256",
            "-passout", "pass:s3cret", "-out", str(out))
    assert "Proc-Type: 4,ENCRYPTED" in out.read_text()
    return out


def test_legacy_encrypted_key_with_its_password(make_server, key_pair,
                                                legacy_key):
    srv = make_server(certfile=key_pair.cert, keyfile=legacy_key,
                      ssl_keyfile_password="s3cret")
    srv.handle("/tls", show_tls)
    assert body_json(get_over(client_context(key_pair.cert), srv.address,
                              "/tls"))["version"] == "TLSv1.3"


@pytest.mark.parametrize("password, match", [
    ("wrong", "password"), (None, "password-protected.*"
                                  "GOHTTP_SSL_KEYFILE_PASSWORD")])
def test_wrong_or_missing_password(key_pair, legacy_key, password, match):
    refused_before_listening(ValueError, match, certfile=key_pair.cert,
                             keyfile=legacy_key,
                             ssl_keyfile_password=password)


def test_pkcs8_encrypted_key_says_how_to_convert(tmp_path):
    locked = make_key_pair(tmp_path, "locked", passphrase="s3cret")
    refused_before_listening(ValueError, "openssl pkey .*-traditional",
                             certfile=locked.cert, keyfile=locked.key,
                             ssl_keyfile_password="s3cret")


# ---- reloading the certificate --------------------------------------------

def served_certificate(address) -> bytes:
    """The DER certificate a new handshake gets."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(address, timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def replace(path: Path, content: bytes) -> None:
    """Write path anew by rename, as ACME clients and editors do."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def install(pair, cert: Path, key: Path) -> None:
    replace(key, pair.key.read_bytes())
    replace(cert, pair.cert.read_bytes())


def wait_until(predicate, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    pytest.fail(f"not in time: {what}")


@pytest.fixture
def pairs(tmp_path):
    """Two certificates, and the files the server serves (first one)."""
    a, b = make_key_pair(tmp_path, "a"), make_key_pair(tmp_path, "b")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "cert.pem", live / "key.pem"
    install(a, cert, key)
    return a, b, cert, key


def test_changed_files_are_served_on_the_next_handshake(make_server, pairs,
                                                        capfd):
    a, b, cert, key = pairs
    srv = make_server(certfile=cert, keyfile=key)
    assert served_certificate(srv.address) == der(a.cert)

    install(b, cert, key)
    wait_until(lambda: served_certificate(srv.address) == der(b.cert),
               "the renewed certificate")

    # A broken file: logged, and the current certificate stays.  (A look
    # between the key's and the certificate's renewal may have logged a
    # mismatch: forget it.)
    capfd.readouterr()
    replace(cert, b"-----BEGIN CERTIFICATE-----\nhalf written")
    wait_until(lambda: served_certificate(srv.address) and
               "cannot be loaded" in capfd.readouterr().err,
               "the broken file logged")
    assert served_certificate(srv.address) == der(b.cert)
    # Mended: served again.
    install(a, cert, key)
    wait_until(lambda: served_certificate(srv.address) == der(a.cert),
               "the mended certificate")


def test_reload_tls_now_and_a_broken_pair_keeps_the_old(make_server, pairs,
                                                        tmp_path):
    a, b, cert, key = pairs
    srv = make_server(certfile=cert, keyfile=key)
    replace(key, b.key.read_bytes())  # the new key, the old certificate
    with pytest.raises(ValueError, match="does not match"):
        srv.reload_tls()
    assert served_certificate(srv.address) == der(a.cert)
    replace(cert, b.cert.read_bytes())
    srv.reload_tls()
    assert served_certificate(srv.address) == der(b.cert)
    os.remove(cert)
    with pytest.raises(FileNotFoundError):
        srv.reload_tls()
    assert served_certificate(srv.address) == der(b.cert)


def test_reload_tls_without_tls(make_server):
    with pytest.raises(gohttp.ServerStateError, match="does not serve TLS"):
        make_server().reload_tls()


URL = re.compile(r"serving .*on (https://\S+)")


def https_port(banner) -> int:
    return int(URL.search(banner.wait_for("serving")).group(1)
               .rsplit(":", 1)[1])


def test_sighup_reloads_in_a_single_process(subprocess_env, pairs):
    a, b, cert, key = pairs
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "-b", "127.0.0.1:0", "--certfile", str(cert),
                        "--keyfile", str(key)) as (proc, banner):
        address = ("127.0.0.1", https_port(banner))
        assert served_certificate(address) == der(a.cert)
        replace(key, b"junk")
        proc.send_signal(signal.SIGHUP)
        banner.wait_for("SIGHUP: the certificate was not reloaded")
        assert served_certificate(address) == der(a.cert)
        install(b, cert, key)
        proc.send_signal(signal.SIGHUP)
        banner.wait_for("SIGHUP: reloaded the certificate")
        assert served_certificate(address) == der(b.cert)
        assert stop(proc) == 0


def test_sighup_with_workers_replaces_them_with_the_new_certificate(
        subprocess_env, pairs):
    a, b, cert, key = pairs
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "-b", "127.0.0.1:0", "--workers", "2",
                        "--certfile", str(cert), "--keyfile", str(key)) as (
            proc, banner):
        address = ("127.0.0.1", https_port(banner))
        assert served_certificate(address) == der(a.cert)
        install(b, cert, key)
        proc.send_signal(signal.SIGHUP)
        banner.wait_for("every worker replaced")
        # The old workers may still take a connection while they drain.
        wait_until(lambda: served_certificate(address) == der(b.cert),
                   "the new workers' certificate")
        assert stop(proc) == 0


# ---- the command ----------------------------------------------------------

def test_command_takes_the_key_password_from_the_environment(
        subprocess_env, key_pair, legacy_key):
    env = {**subprocess_env, "GOHTTP_SSL_KEYFILE_PASSWORD": "s3cret"}
    with gohttp_command(env, "wsgi_apps.hello:app", "-b", "127.0.0.1:0",
                        "--ssl-certfile", str(key_pair.cert),
                        "--ssl-keyfile", str(legacy_key),
                        "--ssl-min-version", "1.3") as (proc, banner):
        address = ("127.0.0.1", https_port(banner))
        assert served_certificate(address) == der(key_pair.cert)
        assert stop(proc) == 0


def test_command_errors(subprocess_env, key_pair, legacy_key):
    from test_cli import failure
    code, err = failure(subprocess_env, "wsgi_apps.hello:app",
                        "-b", "127.0.0.1:0", "--certfile", str(key_pair.cert),
                        "--keyfile", str(legacy_key),
                        "--ssl-keyfile-password", "wrong")
    assert code == 1 and err.startswith("gohttp: ") and "password" in err
    code, err = failure(subprocess_env, "wsgi_apps.hello:app",
                        "--ssl-min-version", "1.1")
    assert code == 2 and "--ssl-min-version must be 1.2 or 1.3" in err
    code, err = failure(subprocess_env, "wsgi_apps.hello:app",
                        "--ssl-cert-reqs", "sometimes")
    assert code == 2 and "none, optional or required" in err
