package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestIsWebSocket(t *testing.T) {
	for _, tc := range []struct {
		upgrade, connection string
		want                bool
	}{
		{"websocket", "Upgrade", true},
		{"WebSocket", "keep-alive, upgrade", true},
		{"h2c", "Upgrade", false},
		{"websocket", "keep-alive", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.upgrade != "" {
			r.Header.Set("Upgrade", tc.upgrade)
		}
		if tc.connection != "" {
			r.Header.Set("Connection", tc.connection)
		}
		if got := isWebSocket(r); got != tc.want {
			t.Errorf("Upgrade %q, Connection %q: got %v", tc.upgrade, tc.connection, got)
		}
	}
}

func TestWSHandshakeError(t *testing.T) {
	good := func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	if status, msg := wsHandshakeError(good()); status != 0 {
		t.Fatalf("a good handshake refused: %d %s", status, msg)
	}
	r := good()
	r.Method = "POST"
	if status, _ := wsHandshakeError(r); status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", status)
	}
	r = good()
	r.Header.Set("Sec-WebSocket-Version", "8")
	if status, _ := wsHandshakeError(r); status != http.StatusUpgradeRequired {
		t.Errorf("version 8: %d", status)
	}
	for _, key := range []string{"", "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!"} {
		r = good()
		r.Header.Set("Sec-WebSocket-Key", key)
		if status, _ := wsHandshakeError(r); status != http.StatusBadRequest {
			t.Errorf("key %q: %d", key, status)
		}
	}
}

func TestValidCloseCode(t *testing.T) {
	for code := 0; code < 6000; code++ {
		want := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
			(code >= 3000 && code <= 4999)
		if validCloseCode(code) != want {
			t.Errorf("code %d: want %v", code, want)
		}
	}
}

func TestWSConnsLimit(t *testing.T) {
	var w wsConns
	w.setMax(2)
	if !w.enter() || !w.enter() || w.enter() {
		t.Fatal("the third of two places was given")
	}
	w.leave()
	if !w.enter() {
		t.Fatal("a place left free was not given")
	}
	if w.count() != 2 {
		t.Fatalf("count %d", w.count())
	}
}

// A client that sends its first frame right behind its handshake, in one
// write: net/http has read part of it ahead, and wsHijacker must hand
// those bytes to coder/websocket, or the frame is torn.
func TestWSHijackerKeepsWhatNetHTTPReadAhead(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(wsHijacker{w}, r, nil)
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer conn.CloseNow()
		_, p, err := conn.Read(context.Background())
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(p)
	}))
	defer srv.Close()

	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := strings.Repeat("ab", 1500) // more than a buffer
	frame := []byte{0x81, 0xfe, byte(len(payload) >> 8), byte(len(payload)), 1, 2, 3, 4}
	for i := 0; i < len(payload); i++ {
		frame = append(frame, payload[i]^[]byte{1, 2, 3, 4}[i%4])
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	select {
	case s := <-got:
		if s != payload {
			t.Fatalf("the server read %.40q..., not the frame sent", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server read nothing")
	}
}
