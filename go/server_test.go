package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// startServer starts a server serving dir under /static/ (no route needs
// C) on 127.0.0.1, and stops it when the test ends.
func startServer(t *testing.T, cfg config, dir string) (*server, string) {
	t.Helper()
	s, err := newServer(1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.static("/static/", dir, false); err != nil {
		t.Fatal(err)
	}
	cfg.tcp, cfg.host = true, "127.0.0.1"
	port, err := s.listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.shutdown(5 * time.Second)
		s.free()
	})
	return s, "127.0.0.1:" + strconv.Itoa(port)
}

// trusting is a client's TLS configuration that trusts the self-signed
// certificate in certFile (writeKeyPair's, for localhost).
func trusting(certFile string) *tls.Config {
	pem, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestServerTLSAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("file"), 0o644)
	certFile, keyFile := writeKeyPair(t, dir, "srv")
	logFile := filepath.Join(dir, "access.log")
	s, addr := startServer(t, config{tls: tlsOptions{certFile: certFile, keyFile: keyFile}, accessLog: logFile, accessLogFormat: logCommon, maxBodyBytes: 3}, dir)

	tr := &http.Transport{TLSClientConfig: trusting(certFile), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	r, err := client.Get("https://" + addr + "/static/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.Proto != "HTTP/2.0" || string(body) != "file" {
		t.Errorf("got %s %q", r.Proto, body)
	}

	r, err = client.Post("https://"+addr+"/static/f.txt", "text/plain", strings.NewReader("four"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over max_body_bytes: got %d", r.StatusCode)
	}

	s.shutdown(5 * time.Second)
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), `"GET /static/f.txt HTTP/2.0" 200 4`) || !strings.Contains(string(log), `"POST /static/f.txt HTTP/2.0" 413`) {
		t.Errorf("access log: %q", log)
	}
	if got := s.addresses(); len(got) != 1 || got[0] != addr {
		t.Errorf("addresses() = %q, want [%s]", got, addr)
	}
}

func TestServerListenChecksEverythingFirst(t *testing.T) {
	dir := t.TempDir()
	s, err := newServer(1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.free()
	for _, cfg := range []config{
		{tcp: true, host: "127.0.0.1", tls: tlsOptions{certFile: filepath.Join(dir, "missing.crt")}},
		{tcp: true, host: "127.0.0.1", forwardedAllowIPs: "nonsense"},
		{tcp: true, host: "127.0.0.1", accessLog: filepath.Join(dir, "no", "dir.log")},
		{tcp: true, host: "127.0.0.1", binds: []string{"127.0.0.1:0", "bad"}},
		{},
	} {
		if _, err := s.listen(cfg); err == nil {
			t.Errorf("listen(%+v) succeeded", cfg)
		}
		if s.state != stateNew {
			t.Fatalf("a failed listen left the server in state %d", s.state)
		}
	}
}

// A burst of requests in flight at once leaves keptCalls calls behind;
// the rest are let go, their handles deleted, and a handle of one names
// no call any more (C then gets RequestFinishedError), where a kept one
// still does.
func TestABurstKeepsOnlyKeptCalls(t *testing.T) {
	s, err := newServer(1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.free()
	burst := make([]*call, 3*keptCalls)
	for i := range burst {
		burst[i] = s.getCall()
	}
	for _, c := range burst {
		s.putCall(c)
	}
	if len(s.idle) != keptCalls {
		t.Fatalf("%d idle calls kept, want %d", len(s.idle), keptCalls)
	}
	for i, c := range burst {
		if got, kept := callOf(c.handle), i < keptCalls; (got == c) != kept || (got == nil) == kept {
			t.Fatalf("call %d (kept: %v): its handle names %p, want %p", i, kept, got, c)
		}
		if c.replyBuf != nil {
			t.Fatal("an idle call holds a reply buffer")
		}
	}
	if callOf(0) != nil {
		t.Error("handle 0 names a call")
	}
}

// A new call's data block is the size of its first request, not a preset
// buffer, and the block is kept for the next.
func TestNewCallDataFitsItsRequest(t *testing.T) {
	c := newCall()
	defer c.handle.Delete()
	if c.data != nil {
		t.Fatal("a new call has a data block before its first request")
	}
	r := httptest.NewRequest("GET", "/a?b=c", nil)
	r.Header.Set("User-Agent", "test")
	c.begin(httptest.NewRecorder(), r, 0, nil)
	if len(c.data) > cap(c.data) || cap(c.data) > 256 {
		t.Fatalf("a %d-byte request got a %d-byte block", len(c.data), cap(c.data))
	}
	block := &c.data[:1][0]
	c.end(0) // GOHTTP_HANDLED, with nothing held
	c.begin(httptest.NewRecorder(), r, 0, nil)
	if &c.data[:1][0] != block {
		t.Error("the next request got a new block")
	}
}

// HTTP/3 at port 0: the server reports the UDP port the OS picked, in
// http3Port and the Alt-Svc header, and serves there.
func TestHTTP3BindPortZero(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("file"), 0o644)
	certFile, keyFile := writeKeyPair(t, dir, "srv")
	s, addr := startServer(t, config{tls: tlsOptions{certFile: certFile, keyFile: keyFile}, http3: h3Options{enabled: true, bind: "127.0.0.1:0"}}, dir)
	port := s.http3Port()
	if port == 0 || "127.0.0.1:"+strconv.Itoa(port) == addr {
		t.Fatalf("http3Port() = %d (TCP at %s)", port, addr)
	}
	if _, ok := s.h3.conn.(*net.UDPConn); !ok {
		t.Errorf("quic-go gets a %T: only a *net.UDPConn has its fast paths (batched reads, GSO, ECN)", s.h3.conn)
	}
	if want := `h3=":` + strconv.Itoa(port) + `"; ma=86400`; len(s.altSvc) != 1 || s.altSvc[0] != want {
		t.Errorf("Alt-Svc %q, want %q", s.altSvc, want)
	}

	tr := &http3.Transport{TLSClientConfig: trusting(certFile)}
	defer tr.Close()
	r, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + strconv.Itoa(port) + "/static/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.Proto != "HTTP/3.0" || string(body) != "file" {
		t.Errorf("got %s %q", r.Proto, body)
	}
}

// HTTP/3 asks for client certificates as TCP does (ssl_cert_reqs): with
// "required", a client without one is refused in the handshake.
func TestHTTP3ClientCertificates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("file"), 0o644)
	certFile, keyFile := writeKeyPair(t, dir, "srv")
	cliCert, cliKey := writeKeyPair(t, dir, "cli")
	s, _ := startServer(t, config{tls: tlsOptions{certFile: certFile, keyFile: keyFile, caFile: cliCert, clientAuth: 2}, http3: h3Options{enabled: true, bind: "127.0.0.1:0"}}, dir)
	url := "https://127.0.0.1:" + strconv.Itoa(s.http3Port()) + "/static/f.txt"

	get := func(cfg *tls.Config) (*http.Response, error) {
		tr := &http3.Transport{TLSClientConfig: cfg}
		defer tr.Close()
		r, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err == nil {
			io.ReadAll(r.Body)
			r.Body.Close()
		}
		return r, err
	}
	if _, err := get(trusting(certFile)); err == nil {
		t.Error("a client without a certificate was served")
	}
	cfg := trusting(certFile)
	cfg.Certificates = []tls.Certificate{must(tls.LoadX509KeyPair(cliCert, cliKey))}
	r, err := get(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 200 || r.Proto != "HTTP/3.0" {
		t.Errorf("with a certificate: %s %s", r.Proto, r.Status)
	}
}
