package main

// One ASGI WebSocket (asgiref's www.rst, the websocket scope), in Go.
// github.com/coder/websocket does the handshake, the framing, ping and
// pong and the close handshake; this file runs one connection for the
// loop as asgicall.go runs an HTTP request: the request's goroutine does
// what the loop asks (accept, write, close), a reader goroutine reads
// the messages the app will receive, and the loop never waits on the
// network.
//
// Flow control both ways.  The reader reads one message ahead of the
// app: it reads the next only once the app has taken the last
// (gohttp_asgi_read gives it the go-ahead), so a client that sends
// faster than the app receives waits in TCP, not in memory.  The app's
// send() returns at once until more than wsHighWater bytes wait
// unwritten, then waits for them (a GOHTTP_ASGI_WRITTEN event): a client
// that never reads slows the app down instead of filling memory.

/*
#include "bridge.h"
*/
import "C"

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// wsOptions are a server's WebSocket settings (gohttp_config's ws_*).
type wsOptions struct {
	maxSize        int64         // bytes per message; beyond it, close 1009
	pingInterval   time.Duration // 0: no pings
	pingTimeout    time.Duration // how long a ping waits for its pong
	deflate        bool          // offer permessage-deflate
	maxConnections int           // open WebSockets at once; 0: no limit
}

// defaultWSOptions are gohttp's defaults, uvicorn's.
var defaultWSOptions = wsOptions{
	maxSize:      16 << 20,
	pingInterval: 20 * time.Second,
	pingTimeout:  20 * time.Second,
	deflate:      true,
}

// wsCloseGrace is how long a shutdown gives the apps of the WebSockets
// it closed to return, past shutdown_timeout if need be.
const wsCloseGrace = time.Second

// wsHighWater is how many bytes of messages may wait unwritten before
// send() waits too.
const wsHighWater = 64 << 10

// wsKeep is the largest read or write buffer a WebSocket keeps between
// messages: one large message does not pin its size for the
// connection's life.
const wsKeep = 64 << 10

// Close codes gohttp gives the app (RFC 6455 7.4.1).
const (
	wsNormal       = 1000
	wsGoingAway    = 1001
	wsProtocol     = 1002
	wsNoStatus     = 1005 // the peer's close frame had no code
	wsAbnormal     = 1006 // the connection dropped without a close frame
	wsInvalidData  = 1007 // a text message that is not UTF-8
	wsTooBig       = 1009
	wsInternalErr  = 1011
	wsMaxReasonLen = 123 // a close frame's payload is 125 bytes at most
)

// A wsOut is one message the app sent: the next n bytes of wsState.out.
type wsOut struct {
	n    int
	text bool
}

// wsState is what a WebSocket adds to its call's asgiState.  The fields
// are guarded by the call's mu unless said otherwise.
type wsState struct {
	// Asked by the app (the loop's exports), taken by the goroutine.
	acceptSet     bool   // websocket.accept came
	subprotocol   string // its subprotocol
	acceptHeaders []byte // its headers, packed by C
	msgs          []wsOut
	out, spare    []byte // the messages' bytes; the buffer they swap with
	inflight      int    // bytes the goroutine is writing
	closeSet      bool   // websocket.close came
	closeCode     int
	closeReason   string

	conn    *websocket.Conn // once accepted: the goroutine's, read by shutdown
	closing int             // the code of a close the server began, or 0

	c *call // its call and state, for a shutdown (wsConns.closeAll)
	a *asgiState

	next chan struct{} // the app took a message: the reader may read one more
	stop chan struct{} // closed when the request ends: the reader stops
	done chan struct{} // closed by the reader when it returns
}

// isWebSocket reports whether r asks to upgrade to a WebSocket: a GET
// whose Upgrade names websocket and whose Connection names upgrade.
// Whether the rest of the handshake is right is wsHandshakeError's.
func isWebSocket(r *http.Request) bool {
	return r.ProtoMajor == 1 && headerHasToken(r.Header, "Upgrade", "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

// headerHasToken reports whether a comma-separated list in header key
// holds token, in any case.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsHandshakeError checks an upgrade request before the app sees it
// (RFC 6455 4.2.1): it returns the status and message that refuse a
// broken one, or 0.
func wsHandshakeError(r *http.Request) (int, string) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, "a WebSocket handshake is a GET request"
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return http.StatusUpgradeRequired, "unsupported WebSocket version: this server speaks version 13"
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return http.StatusBadRequest, "invalid Sec-WebSocket-Key: want 16 bytes in base64"
	}
	return 0, ""
}

// refuseUpgrade answers a request that is no WebSocket handshake, or a
// broken one, on a route that serves only WebSockets.
func refuseUpgrade(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUpgradeRequired {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, msg, status)
}

// handleASGIWebSocket registers a route whose WebSocket upgrades go to
// the ASGI app value on loop; other requests there get 426 (or 400 for
// a broken handshake) from Go.
func (s *server) handleASGIWebSocket(pattern string, loop *asgiLoop, app uintptr) error {
	names := wildcardNames(pattern)
	return s.add(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWebSocket(r) {
			refuseUpgrade(w, http.StatusUpgradeRequired, "426 upgrade required: this URL serves WebSockets only")
			return
		}
		s.serveWebSocket(w, r, loop, app, names)
	}))
}

// serveWebSocket runs the ASGI app value on loop for the WebSocket
// handshake r, until the app has finished and the connection is closed.
func (s *server) serveWebSocket(w http.ResponseWriter, r *http.Request, loop *asgiLoop, app uintptr, names []string) {
	if status, msg := wsHandshakeError(r); status != 0 {
		refuseUpgrade(w, status, msg)
		return
	}
	if !s.ws.enter() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 service unavailable: too many WebSocket connections", http.StatusServiceUnavailable)
		return
	}
	defer s.ws.leave()
	c := s.getCall()
	defer s.putCall(c)
	c.begin(w, r, app, names)
	a := c.asgiBegin(loop, r)
	ws := c.wsBegin()
	outcome := C.gohttp_outcome(C.GOHTTP_UNAVAILABLE)
	if loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WS_CONNECT, c: c, gen: c.generation}) {
		outcome = a.serveWS(c, ws, w, r, s)
	}
	conn := ws.conn
	started := c.end(outcome)
	s.lane.finished.Add(1)
	if conn == nil { // the handshake never happened: an HTTP answer
		answer(w, r, outcome, started)
	}
}

// wsBegin readies c's WebSocket state; c.asgi was just set up.
func (c *call) wsBegin() *wsState {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := &wsState{
		c:    c,
		a:    c.asgi,
		next: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	ws.next <- struct{}{} // the reader reads the first message unasked
	c.asgi.ws = ws
	return ws
}

// serveWS is serve for a WebSocket: it does what the loop asks until the
// app has finished, and returns its outcome.
func (a *asgiState) serveWS(c *call, ws *wsState, w http.ResponseWriter, r *http.Request, s *server) C.gohttp_outcome {
	done := r.Context().Done()
	var ping <-chan time.Time
	var pinger *time.Ticker
	defer func() {
		if pinger != nil {
			pinger.Stop()
		}
	}()
	for {
		select {
		case <-a.kick:
		case <-done:
			// Before the handshake: the client has gone.  (After it, the
			// connection is hijacked and the reader learns it.)
			done = nil
			if ws.conn == nil {
				a.wsClosed(c, wsAbnormal, "")
			}
		case <-ping:
			go a.ping(c, ws, ws.conn, s.wsOpts.pingTimeout)
			continue
		}
		c.mu.Lock()
		finished, outcome := a.finished, a.outcome
		// A denial response (websocket.http.response.*): asgicall.go's.
		status, headers := 0, []byte(nil)
		if a.startSet && !a.headerSent && (len(a.out) > 0 || a.final || finished) {
			status, headers, a.headerSent = a.status, a.headers, true
		}
		body, final := a.out, a.final
		if len(body) > 0 {
			a.out, a.spare, a.inflight = a.spare[:0], nil, len(body)
		}
		accept := ws.acceptSet && ws.conn == nil && !a.startSet
		subprotocol, acceptHeaders := ws.subprotocol, ws.acceptHeaders
		msgs, out := ws.msgs, ws.out
		if len(msgs) > 0 {
			ws.msgs, ws.out, ws.spare, ws.inflight = nil, ws.spare[:0], nil, len(out)
		}
		closeSet, code, reason := ws.closeSet, ws.closeCode, ws.closeReason
		c.mu.Unlock()

		if status != 0 || len(body) > 0 {
			a.write(c, status, headers, body, final, finished)
		}
		if accept {
			if conn := a.accept(c, ws, w, r, s, subprotocol, acceptHeaders); conn != nil {
				if s.wsOpts.pingInterval > 0 {
					pinger = time.NewTicker(s.wsOpts.pingInterval)
					ping = pinger.C
				}
			}
		}
		if len(msgs) > 0 {
			a.wsWrite(c, ws, msgs, out)
		}
		if finished || closeSet {
			a.wsEnd(c, ws, w, s, closeSet, code, reason, finished, outcome)
		}
		if finished {
			return outcome
		}
	}
}

// accept does the handshake the app accepted, with its subprotocol and
// headers, and starts the reader.  It returns the connection, or nil if
// the handshake failed (the client has gone): the app learns it as a
// websocket.disconnect.
func (a *asgiState) accept(c *call, ws *wsState, w http.ResponseWriter, r *http.Request, s *server, subprotocol string, headers []byte) *websocket.Conn {
	h := w.Header()
	clear(h)
	if err := c.headers.set(h, headers); err != nil {
		a.wsClosed(c, wsAbnormal, "")
		return nil
	}
	// coder/websocket picks the first protocol of the client's that the
	// server lists: listing only the app's choice picks it.
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true}
	if subprotocol != "" {
		opts.Subprotocols = []string{subprotocol}
	}
	if s.wsOpts.deflate {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
	} else {
		opts.CompressionMode = websocket.CompressionDisabled
	}
	// The request's read and write deadlines (read_timeout,
	// write_timeout) are HTTP's: a WebSocket has none.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		a.wsClosed(c, wsAbnormal, "")
		return nil
	}
	if s.wsOpts.maxSize > 0 {
		conn.SetReadLimit(s.wsOpts.maxSize)
	} else {
		conn.SetReadLimit(-1)
	}
	c.mu.Lock()
	c.wroteHeader, c.status = true, http.StatusSwitchingProtocols
	ws.conn = conn
	c.mu.Unlock()
	if !s.ws.opened(ws) {
		// A shutdown has begun: go away at once.
		a.serverClose(c, ws, wsGoingAway, "the server is shutting down")
	}
	go a.reader(c, ws, conn, c.generation)
	return conn
}

// wsWrite writes the app's messages, out holding their bytes in order,
// gives out back as the spare buffer, and wakes a send() that waits.
func (a *asgiState) wsWrite(c *call, ws *wsState, msgs []wsOut, out []byte) {
	var err error
	conn := ws.conn
	if conn == nil {
		err = net.ErrClosed // refused or failed handshake: nothing goes out
	}
	at := 0
	for _, m := range msgs {
		if err == nil {
			typ := websocket.MessageBinary
			if m.text {
				typ = websocket.MessageText
			}
			err = conn.Write(context.Background(), typ, out[at:at+m.n])
		}
		at += m.n
	}
	c.mu.Lock()
	if cap(out) <= wsKeep {
		ws.spare = out[:0]
	}
	ws.inflight = 0
	written := a.wantWritten && len(ws.out) <= wsHighWater
	if written {
		a.wantWritten = false
	}
	c.mu.Unlock()
	if err != nil {
		// The connection is broken: closing it ends the reader's read,
		// whose close event tells the app (and fails a waiting send()).
		c.mu.Lock()
		a.gone = true
		c.mu.Unlock()
		a.serverClose(c, ws, wsAbnormal, "")
	} else if written {
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WRITTEN, c: c, gen: c.generation})
	}
}

// wsEnd ends the WebSocket as the app asked (closeSet: websocket.close
// with code and reason) or as its end says (finished: it returned, or
// raised with outcome GOHTTP_FAILED).  Before the handshake, a close or
// an app that returned without accepting is a 403, one that raised a
// 500 (serveWebSocket answers it), a denial response stands.  After it,
// the close handshake: the app's code, else 1000 if it returned, 1011 if
// it raised.  Once finished, it waits for the reader.
func (a *asgiState) wsEnd(c *call, ws *wsState, w http.ResponseWriter, s *server, closeSet bool, code int, reason string, finished bool, outcome C.gohttp_outcome) {
	conn := ws.conn
	if conn == nil {
		c.mu.Lock()
		denied := a.startSet || c.wroteHeader
		c.mu.Unlock()
		if !denied && (closeSet || outcome == C.GOHTTP_HANDLED) {
			c.mu.Lock()
			c.wroteHeader, c.status = true, http.StatusForbidden
			a.outcome = C.GOHTTP_HANDLED
			c.mu.Unlock()
			http.Error(w, "403 forbidden: the application closed the WebSocket before accepting it", http.StatusForbidden)
			a.wsClosed(c, wsAbnormal, "")
		}
		return
	}
	if !closeSet {
		code = wsNormal
		if outcome != C.GOHTTP_HANDLED {
			code = wsInternalErr
		}
	}
	c.mu.Lock()
	first := ws.closing == 0
	if first {
		ws.closing = code
	}
	c.mu.Unlock()
	if first {
		_ = conn.Close(websocket.StatusCode(code), reason)
	}
	if finished {
		close(ws.stop)
		conn.CloseNow() // whatever the close handshake left open
		<-ws.done
		s.ws.forget(ws)
	}
}

// serverClose closes the WebSocket with code and reason on the server's
// own account (a shutdown, a ping unanswered): the app gets
// websocket.disconnect with code.  It may run beside the goroutine.
func (a *asgiState) serverClose(c *call, ws *wsState, code int, reason string) {
	c.mu.Lock()
	conn, first := ws.conn, ws.closing == 0
	if first {
		ws.closing = code
	}
	c.mu.Unlock()
	if conn == nil || !first {
		return
	}
	if code == wsAbnormal {
		conn.CloseNow()
	} else {
		_ = conn.Close(websocket.StatusCode(code), reason)
	}
}

// ping pings the peer and drops it (1006 to the app) if no pong comes
// within timeout.
func (a *asgiState) ping(c *call, ws *wsState, conn *websocket.Conn, timeout time.Duration) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := conn.Ping(ctx); err != nil && errors.Is(err, context.DeadlineExceeded) {
		a.serverClose(c, ws, wsAbnormal, "")
	}
}

// reader reads the messages the app will receive, one ahead of it, and
// posts each (GOHTTP_ASGI_WS_MESSAGE); then the close, once
// (GOHTTP_ASGI_WS_CLOSE), with the peer's code, or the one the server
// closed with.  Only it reads conn (coder/websocket allows one reader).
func (a *asgiState) reader(c *call, ws *wsState, conn *websocket.Conn, gen uint64) {
	defer close(ws.done)
	var buf []byte
	for {
		select {
		case <-ws.next:
		case <-ws.stop:
			return
		}
		typ, rd, err := conn.Reader(context.Background())
		if err == nil {
			buf, err = readMessage(rd, buf[:0])
		}
		if err == nil && typ == websocket.MessageText && !utf8.Valid(buf) {
			a.serverClose(c, ws, wsInvalidData, "invalid UTF-8 in a text message")
			err = errInvalidUTF8
		}
		if err != nil {
			code, reason := a.closeCode(c, ws, conn, err)
			a.wsClosed(c, code, reason)
			return
		}
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WS_MESSAGE, c: c, gen: gen, chunk: buf, text: typ == websocket.MessageText})
		if cap(buf) > wsKeep {
			buf = nil // the loop copies it before it asks for the next
		}
	}
}

var errInvalidUTF8 = errors.New("invalid UTF-8 in a text message")

// readMessage appends what rd reads to buf, until its end.
func readMessage(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// closeCode is the close code and reason the app gets for err, a read
// error of conn: the peer's close frame's, else the one the server
// closed with, else 1006 for a connection that dropped, 1009 for a
// message over the limit, 1002 for a protocol error (the peer gets a
// close frame with that code).
func (a *asgiState) closeCode(c *call, ws *wsState, conn *websocket.Conn, err error) (int, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	c.mu.Lock()
	closing := ws.closing
	c.mu.Unlock()
	if closing != 0 {
		return closing, ""
	}
	code := wsProtocol
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		code = wsTooBig
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		a.serverClose(c, ws, wsAbnormal, "")
		return wsAbnormal, ""
	}
	// coder/websocket has sent the close frame, or for some errors (an
	// unmasked frame) not: Close sends it if not, then waits for the
	// peer's (up to 5 s) and closes the connection.
	a.serverClose(c, ws, code, "")
	return code, ""
}

// wsClosed tells the loop, once, that the WebSocket is closed, with the
// code and reason the app gets in websocket.disconnect.
func (a *asgiState) wsClosed(c *call, code int, reason string) {
	c.mu.Lock()
	was := a.told
	a.told = true
	a.gone = true
	c.mu.Unlock()
	if !was {
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WS_CLOSE, c: c, gen: c.generation, code: code, chunk: []byte(reason)})
	}
}

// wsConns are a server's open WebSockets: their number (for
// ws_max_connections) and, for a shutdown, their connections.
type wsConns struct {
	mu      sync.Mutex
	max     int // 0: no limit
	n       int // between enter and leave: handshakes too
	open    map[*wsState]struct{}
	closing bool // a shutdown closed them: close the ones that come
}

// enter counts one WebSocket request in; false if there are max already.
func (w *wsConns) enter() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.max > 0 && w.n >= w.max {
		return false
	}
	w.n++
	return true
}

// setMax sets the most WebSockets at once (0: no limit).
func (w *wsConns) setMax(max int) {
	w.mu.Lock()
	w.max = max
	w.mu.Unlock()
}

// count is how many WebSocket requests are in, handshakes too.
func (w *wsConns) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *wsConns) leave() {
	w.mu.Lock()
	w.n--
	w.mu.Unlock()
}

// opened notes ws's connection, open now, for a shutdown to close; false
// if a shutdown has begun already.
func (w *wsConns) opened(ws *wsState) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	if w.open == nil {
		w.open = make(map[*wsState]struct{})
	}
	w.open[ws] = struct{}{}
	return true
}

// forget drops ws: its connection is closed.
func (w *wsConns) forget(ws *wsState) {
	w.mu.Lock()
	delete(w.open, ws)
	w.mu.Unlock()
}

// closeAll closes every open WebSocket with 1001 Going Away, and those
// that open from now on.  It does not wait for the close handshakes.
func (w *wsConns) closeAll() {
	w.mu.Lock()
	w.closing = true
	open := make([]*wsState, 0, len(w.open))
	for ws := range w.open {
		open = append(open, ws)
	}
	w.mu.Unlock()
	for _, ws := range open {
		go ws.a.serverClose(ws.c, ws, wsGoingAway, "the server is shutting down")
	}
}
