package main

// The faults of tests/test_http3.py that a Python client cannot make:
// streams left unfinished, more streams than the server allows, a
// connection that migrates to another UDP port, a client that vanishes
// without a CONNECTION_CLOSE, handshakes that fail.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

var clientTLS = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}

// runFault runs one fault against rawURL, printing JSON lines on out.
func runFault(fault, rawURL string, n int, out *json.Encoder) error {
	switch fault {
	case "stall":
		return stall(rawURL, n, out)
	case "streams":
		return streams(rawURL, n, out)
	case "migrate":
		return migrate(rawURL, out)
	case "handshakes":
		return handshakes(rawURL, out)
	}
	return fmt.Errorf("unknown fault %q: want stall, streams, migrate or handshakes", fault)
}

// handshakes makes two QUIC handshakes that fail, each on a connection
// of its own, and reports their errors: one offering only an ALPN the
// server does not speak (it refuses), one verifying the server's
// certificate against the system's roots (a test certificate is not
// among them: the client refuses).
func handshakes(rawURL string, out *json.Encoder) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := map[string]string{}
	for name, conf := range map[string]*tls.Config{
		"alpn":      {InsecureSkipVerify: true, NextProtos: []string{"h2"}},
		"untrusted": {NextProtos: []string{http3.NextProtoH3}},
	} {
		conn, err := quic.DialAddr(ctx, u.Host, conf, nil)
		if err == nil {
			conn.CloseWithError(0, "")
			return fmt.Errorf("%s: the handshake succeeded", name)
		}
		errs[name] = err.Error()
	}
	return out.Encode(errs)
}

// stall sends n POSTs on one connection, each announcing 1000 bytes of
// body and sending 10, then waits for its standard input to close and
// exits without closing the connection: the server hears nothing more,
// not even a CONNECTION_CLOSE.  Keep-alives keep the connection open
// meanwhile.
func stall(rawURL string, n int, out *json.Encoder) error {
	tr := &http3.Transport{
		TLSClientConfig: clientTLS,
		QUICConfig:      &quic.Config{KeepAlivePeriod: 200 * time.Millisecond},
	}
	client := &http.Client{Transport: tr}
	for range n {
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", rawURL, pr)
		if err != nil {
			return err
		}
		req.ContentLength = 1000
		go client.Do(req)
		if _, err := pw.Write([]byte("0123456789")); err != nil {
			return err
		}
	}
	out.Encode(map[string]any{"stalled": n})
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0) // vanish: no CONNECTION_CLOSE
	return nil
}

// streams opens bidirectional streams on a bare QUIC connection until
// the server's limit stops it, and reports how many it could open; then
// makes n GETs at once on one HTTP/3 connection, more than that limit,
// and reports their statuses.
func streams(rawURL string, n int, out *json.Encoder) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, u.Host, clientTLS, nil)
	if err != nil {
		return err
	}
	opened := 0
	var limitErr string
	for opened < 10_000 {
		if _, err := conn.OpenStream(); err != nil {
			limitErr = err.Error()
			break
		}
		opened++
	}
	conn.CloseWithError(0, "")

	tr := &http3.Transport{TLSClientConfig: clientTLS}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	statuses := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := ""
			resp, err := client.Get(rawURL)
			if err != nil {
				key = err.Error()
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				key = fmt.Sprint(resp.StatusCode)
			}
			mu.Lock()
			statuses[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out.Encode(map[string]any{"opened": opened, "limit_error": limitErr, "statuses": statuses})
}

// migrate makes a GET, moves the connection to a new UDP socket (a new
// local port: what a phone moving from Wi-Fi to mobile data does), and
// makes another GET on the same connection.
func migrate(rawURL string, out *json.Encoder) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	raddr, err := net.ResolveUDPAddr("udp", u.Host)
	if err != nil {
		return err
	}
	newTransport := func() (*quic.Transport, error) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		return &quic.Transport{Conn: c}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qt1, err := newTransport()
	if err != nil {
		return err
	}
	conn, err := qt1.Dial(ctx, raddr, clientTLS, &quic.Config{})
	if err != nil {
		return err
	}
	h3 := (&http3.Transport{}).NewClientConn(conn)
	get := func() (string, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
		if err != nil {
			return "", err
		}
		resp, err := h3.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	before, err := get()
	if err != nil {
		return err
	}
	qt2, err := newTransport()
	if err != nil {
		return err
	}
	path, err := conn.AddPath(qt2)
	if err != nil {
		return err
	}
	if err := path.Probe(ctx); err != nil {
		return fmt.Errorf("probing the new path: %w", err)
	}
	if err := path.Switch(); err != nil {
		return fmt.Errorf("switching to the new path: %w", err)
	}
	after, err := get()
	if err != nil {
		return fmt.Errorf("after migrating: %w", err)
	}
	conn.CloseWithError(0, "")
	return out.Encode(map[string]any{
		"ports":  []int{qt1.Conn.LocalAddr().(*net.UDPAddr).Port, qt2.Conn.LocalAddr().(*net.UDPAddr).Port},
		"bodies": []string{before, after},
	})
}
