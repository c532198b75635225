package main

// One ASGI WebSocket (asgiref's www.rst, the websocket scope), in Go.
// github.com/coder/websocket does the handshake, the framing, ping and
// pong and the close handshake; this file runs one connection for the
// loop as asgicall.go runs an HTTP request, and the loop never waits on
// the network.  Until the app accepts, the request's goroutine does what
// the loop asks; then a goroutine of the WebSocket's own reads the
// messages the app will receive (session, reader), and a writer runs
// while the app has messages to send or a close to do (writer).  An
// idle WebSocket costs one goroutine, blocked in its read.
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
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

	tried      bool // the handshake was tried (the request's goroutine's)
	live       bool // it succeeded: the writer does what the app asks
	writing    bool // a writer runs
	closeDone  bool // the writer took websocket.close
	finishDone bool // and the app's end
	msgsSpare  []wsOut

	conn    *websocket.Conn // set once accepted, then read-only
	closing int             // the code of the first close begun, or 0

	pinger      *time.Timer // pingLoop's; nil without pings
	pingStopped bool
	parked      atomic.Bool  // the reader waits for the app to take a message
	sent        atomic.Int64 // bytes of the messages written, for the access log

	c *call // its call and state, for a shutdown (wsConns.closeAll)
	a *asgiState

	next  chan struct{} // the app took a message: the reader may read one more
	stop  chan struct{} // closed when the app has finished: the reader stops
	ended chan struct{} // closed by the writer once the app has finished and the connection is closed
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
// handshake r.  Until the app has answered, the request's goroutine does
// what the loop asks (handshake); once it has accepted, a goroutine of
// the WebSocket's own (session) reads the client's messages, a writer
// runs when the app has something to send (writer), and this one
// returns: net/http's goroutine, with its stack and its response's
// buffers, is not kept for the connection's life.
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
	c := s.getCall()
	handedOff := false
	defer func() {
		if !handedOff {
			s.putCall(c)
			s.ws.leave()
		}
	}()
	c.begin(w, r, app, names)
	a := c.asgiBegin(loop, r)
	ws := c.wsBegin()
	outcome := C.gohttp_outcome(C.GOHTTP_UNAVAILABLE)
	var conn *websocket.Conn
	if loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WS_CONNECT, c: c, gen: c.generation}) {
		outcome, conn = a.handshake(c, ws, w, r, s)
	}
	if conn != nil {
		handedOff = true
		logEnd := detachLog(w)
		c.mu.Lock()
		c.w, c.r = nil, nil // net/http's, and kept they would keep its buffers
		c.mu.Unlock()
		go a.session(c, ws, conn, s, logEnd)
		return
	}
	started := c.end(outcome)
	s.lane.finished.Add(1)
	answer(w, r, outcome, started)
}

// wsBegin readies c's WebSocket state; c.asgi was just set up.
func (c *call) wsBegin() *wsState {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := &wsState{
		c:     c,
		a:     c.asgi,
		next:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		ended: make(chan struct{}),
	}
	ws.next <- struct{}{} // the reader reads the first message unasked
	c.asgi.ws = ws
	return ws
}

// handshake does what the loop asks until the app accepts (it returns
// the connection) or finishes (it returns its outcome, and no
// connection): a refusal (websocket.close: 403), a denial response
// (asgicall.go's writes), or an app that returned (403) or raised (500,
// which serveWebSocket answers).
func (a *asgiState) handshake(c *call, ws *wsState, w http.ResponseWriter, r *http.Request, s *server) (C.gohttp_outcome, *websocket.Conn) {
	done := r.Context().Done()
	for {
		select {
		case <-a.kick:
		case <-done:
			done = nil // the client has gone
			a.wsClosed(c, wsAbnormal, "")
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
		accept := ws.acceptSet && !ws.tried && !a.startSet
		ws.tried = ws.tried || accept
		subprotocol, acceptHeaders := ws.subprotocol, ws.acceptHeaders
		refused := ws.closeSet || (finished && outcome == C.GOHTTP_HANDLED)
		c.mu.Unlock()

		if status != 0 || len(body) > 0 {
			a.write(c, status, headers, body, final, finished)
		}
		if accept {
			if conn := a.accept(c, ws, w, r, s, subprotocol, acceptHeaders); conn != nil {
				return outcome, conn // the rest is session's and writer's
			}
		}
		if refused && !ws.tried {
			a.refuse(c, w)
		}
		if finished {
			c.mu.Lock()
			outcome = a.outcome
			c.mu.Unlock()
			return outcome, nil
		}
	}
}

// refuse answers a handshake the app refused (websocket.close before
// websocket.accept), or left unanswered, with a 403, unless a response
// (a denial) has started.
func (a *asgiState) refuse(c *call, w http.ResponseWriter) {
	c.mu.Lock()
	started := a.startSet || c.wroteHeader
	if !started {
		c.wroteHeader, c.status = true, http.StatusForbidden
		a.outcome = C.GOHTTP_HANDLED
	}
	c.mu.Unlock()
	if !started {
		http.Error(w, "403 forbidden: the application closed the WebSocket before accepting it", http.StatusForbidden)
		a.wsClosed(c, wsAbnormal, "")
	}
}

// accept does the handshake the app accepted, with its subprotocol and
// headers, and hands the WebSocket over to its own goroutines.  It
// returns the connection, or nil if the handshake failed (the client
// has gone): the app learns it as a websocket.disconnect.
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
	conn, err := websocket.Accept(wsHijacker{w}, r, opts)
	c.mu.Lock()
	c.wroteHeader = true // a 101, or coder/websocket's error
	c.mu.Unlock()
	if err != nil {
		a.wsClosed(c, wsAbnormal, "")
		return nil
	}
	if rec := connRecordOf(r); rec != nil { // metrics.go
		rec.switchTo(protoWebSocket)
	}
	if s.wsOpts.maxSize > 0 {
		conn.SetReadLimit(s.wsOpts.maxSize)
	} else {
		conn.SetReadLimit(-1)
	}
	c.mu.Lock()
	c.status = http.StatusSwitchingProtocols
	ws.conn = conn
	ws.live = true // the exports start the writer from now on
	if len(ws.msgs) > 0 || ws.closeSet || a.finished {
		ws.writing = true
		go a.writer(c, ws)
	}
	if iv := s.wsOpts.pingInterval; iv > 0 {
		timeout := s.wsOpts.pingTimeout
		ws.pinger = time.AfterFunc(iv, func() { a.pingLoop(c, ws, conn, iv, timeout) })
	}
	c.mu.Unlock()
	if !s.ws.opened(ws) {
		// A shutdown has begun: go away at once.
		go a.closeConn(c, ws, wsGoingAway, "the server is shutting down")
	}
	return conn
}

// wsBufSize is the size of each of a WebSocket's two buffers (net/http's
// are 4 KiB): an idle connection holds them for its life, and a frame
// larger than a buffer is read and written around it anyway.
const wsBufSize = 1024

// wsHijacker is the ResponseWriter coder/websocket's Accept gets: its
// Hijack hands the connection over with wsBufSize buffers.  The bytes
// net/http had read ahead (its background read may have taken the
// client's first byte, sent as soon as the 101 came) are in the new
// reader's buffer, where Accept looks for them: it then reads from the
// connection alone.
type wsHijacker struct{ http.ResponseWriter }

func (w wsHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, wsBufSize)
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), conn), max(wsBufSize, n))
		if _, err := br.Peek(n); err != nil { // buffered: the bytes reader alone is read
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsBufSize)), nil
}

func (w wsHijacker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wsKick has an open WebSocket's pending work done: by the request's
// goroutine until the handshake, then by a writer, started if none
// runs.  c.mu is held.
func (a *asgiState) wsKick(c *call) {
	ws := a.ws
	if !ws.live {
		a.wake()
		return
	}
	if !ws.writing {
		ws.writing = true
		go a.writer(c, ws)
	}
}

// writer does what the app asked of its open WebSocket, in order (the
// messages it sent, its websocket.close, its end), and returns once
// nothing is left.  One runs at a time (ws.writing).
func (a *asgiState) writer(c *call, ws *wsState) {
	for {
		c.mu.Lock()
		msgs, out := ws.msgs, ws.out
		if len(msgs) > 0 {
			ws.msgs, ws.out, ws.spare, ws.inflight = ws.msgsSpare[:0], ws.spare[:0], nil, len(out)
			ws.msgsSpare = nil
		}
		closing := ws.closeSet && !ws.closeDone
		ws.closeDone = ws.closeDone || closing
		code, reason := ws.closeCode, ws.closeReason
		finishing := a.finished && !ws.finishDone
		ws.finishDone = ws.finishDone || finishing
		outcome := a.outcome
		if len(msgs) == 0 && !closing && !finishing {
			ws.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		if len(msgs) > 0 {
			a.wsWrite(c, ws, msgs, out)
		}
		if closing {
			a.closeConn(c, ws, code, reason)
		}
		if finishing {
			// The app returned without closing (1000), or raised (1011).
			code := wsNormal
			if outcome != C.GOHTTP_HANDLED {
				code = wsInternalErr
			}
			a.closeConn(c, ws, code, "")
			close(ws.stop)
			ws.conn.CloseNow() // whatever the close handshake left open
			// The last step: once ended is closed, the session retires
			// the call, and a and c may serve another request.
			close(ws.ended)
			return
		}
	}
}

// session reads the client's messages for the app until the connection
// ends, then waits for the app to finish, and retires the WebSocket:
// its call, its place among ws_max_connections, its access log line
// (logEnd, nil without an access log).
func (a *asgiState) session(c *call, ws *wsState, conn *websocket.Conn, s *server, logEnd func(sent int64)) {
	a.reader(c, ws, conn, c.generation)
	<-ws.ended
	c.mu.Lock()
	outcome := a.outcome
	ws.pingStopped = true
	if ws.pinger != nil {
		ws.pinger.Stop()
	}
	c.mu.Unlock()
	// The line first: a shutdown closes the access log once no call is
	// busy, and putCall below ends this one.
	if logEnd != nil {
		logEnd(ws.sent.Load())
	}
	c.end(outcome)
	s.lane.finished.Add(1)
	s.ws.forget(ws)
	s.putCall(c)
	s.ws.leave()
}

// wsWrite writes the app's messages, out holding their bytes in order,
// gives both back as spares, and wakes the send()s that wait.
func (a *asgiState) wsWrite(c *call, ws *wsState, msgs []wsOut, out []byte) {
	var err error
	at := 0
	for _, m := range msgs {
		if err == nil {
			typ := websocket.MessageBinary
			if m.text {
				typ = websocket.MessageText
			}
			err = ws.conn.Write(context.Background(), typ, out[at:at+m.n])
			if err == nil {
				ws.sent.Add(int64(m.n))
			}
		}
		at += m.n
	}
	c.mu.Lock()
	if cap(out) <= wsKeep {
		ws.spare = out[:0]
	}
	ws.msgsSpare = msgs[:0]
	ws.inflight = 0
	written := a.wantWritten && len(ws.out) <= wsHighWater
	if written {
		a.wantWritten = false
	}
	if err != nil {
		a.gone = true // sends are refused from now on
	}
	c.mu.Unlock()
	if err != nil {
		// The connection is broken: closing it ends the reader's read,
		// whose close event tells the app (and fails a waiting send()).
		a.closeConn(c, ws, wsAbnormal, "")
	} else if written {
		a.loop.post(asgiEvent{kind: C.GOHTTP_ASGI_WRITTEN, c: c, gen: c.generation})
	}
}

// closeConn closes the WebSocket with code and reason (1006: at once,
// without a close frame), unless it is closing already: for the app
// (websocket.close, its end) or on the server's own account (a
// shutdown, a ping unanswered, a protocol error).  The app gets
// websocket.disconnect with the peer's code, else this one.
func (a *asgiState) closeConn(c *call, ws *wsState, code int, reason string) {
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

// pingLoop pings the peer, drops it (1006 to the app) if no pong comes
// within timeout, and pings again interval later, until the WebSocket
// ends.  It runs on the timer's goroutine.
func (a *asgiState) pingLoop(c *call, ws *wsState, conn *websocket.Conn, interval, timeout time.Duration) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// While the reader is parked (the client sent a message the app has
	// not taken yet), nothing reads the pong: the client is alive, as its
	// message says, and is not pinged, nor dropped for a pong unread.
	if !ws.parked.Load() {
		if err := conn.Ping(ctx); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				return // closed
			}
			if !ws.parked.Load() {
				a.closeConn(c, ws, wsAbnormal, "")
				return
			}
		}
	}
	c.mu.Lock()
	if !ws.pingStopped && ws.closing == 0 {
		ws.pinger.Reset(interval)
	}
	c.mu.Unlock()
}

// reader reads the messages the app will receive, one ahead of it, and
// posts each (GOHTTP_ASGI_WS_MESSAGE); then the close, once
// (GOHTTP_ASGI_WS_CLOSE), with the peer's code, or the one the server
// closed with.  Only it reads conn (coder/websocket allows one reader).
func (a *asgiState) reader(c *call, ws *wsState, conn *websocket.Conn, gen uint64) {
	var buf []byte
	for {
		ws.parked.Store(true)
		select {
		case <-ws.next:
		case <-ws.stop:
			return
		}
		ws.parked.Store(false)
		typ, rd, err := conn.Reader(context.Background())
		if err == nil {
			buf, err = readMessage(rd, buf[:0])
		}
		if err == nil && typ == websocket.MessageText && !utf8.Valid(buf) {
			a.closeConn(c, ws, wsInvalidData, "invalid UTF-8 in a text message")
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
		a.closeConn(c, ws, wsAbnormal, "")
		return wsAbnormal, ""
	}
	// coder/websocket has sent the close frame, or for some errors (an
	// unmasked frame) not: Close sends it if not, then waits for the
	// peer's (up to 5 s) and closes the connection.
	a.closeConn(c, ws, code, "")
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
		go ws.a.closeConn(ws.c, ws, wsGoingAway, "the server is shutting down")
	}
}
