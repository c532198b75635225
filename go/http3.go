package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// HTTP/3 serves the server's handler over QUIC (quic-go's http3) on one
// UDP socket, beside the TCP listeners: the same mux, middleware and TLS
// certificate, with the Alt-Svc header on HTTP/1.1 and HTTP/2 responses
// telling clients where to find it.

// h3Options is what HTTP/3 takes from gohttp_config (bridge.h).
type h3Options struct {
	enabled   bool
	bind      string // "": the first TCP listener's host:port
	allow0RTT bool   // accept 0-RTT (early) requests, which may be replayed
}

// altSvcMaxAge is how long clients may remember the Alt-Svc (seconds).
const altSvcMaxAge = 86400

// h3MaxStreams is how many requests one QUIC connection may have in
// flight (quic-go's default, said here so the docs can say it).
const h3MaxStreams = 100

// An h3Server is the HTTP/3 side of a server.
type h3Server struct {
	srv     *http3.Server
	tr      *quic.Transport
	ln      *quic.EarlyListener
	conn    net.PacketConn
	conns   sync.Map       // *quic.Conn -> *h3Conn: the connections open
	metrics *serverMetrics // nil: none
	done    chan struct{}  // closed once serve returns
	err     error          // why serve returned, read after done
}

// An h3Conn counts the requests one QUIC connection has in its handler,
// so that a shutdown can close those with none (see closeIdle).
type h3Conn struct {
	conn   *quic.Conn
	active atomic.Int64
}

type h3ConnKey struct{}

// track is the http3.Server's ConnContext: it remembers c until it closes.
// The metrics count it as an accepted connection and an open h3 one, and
// its bytes.
func (h *h3Server) track(ctx context.Context, c *quic.Conn) context.Context {
	hc := &h3Conn{conn: c}
	h.conns.Store(c, hc)
	m := h.metrics
	if m != nil {
		if hs, ok := c.Context().Value(h3HandshakeKey{}).(*h3Handshake); ok {
			hs.conn.Store(c)
		}
		m.accepted.Inc()
		m.connsByProto[protoHTTP3].Inc()
		m.bytes.quicOpened(c)
	}
	context.AfterFunc(c.Context(), func() {
		h.conns.Delete(c)
		if m != nil {
			m.connsByProto[protoHTTP3].Dec()
			m.bytes.quicClosed(c)
		}
	})
	return context.WithValue(ctx, h3ConnKey{}, hc)
}

// An h3Handshake follows one QUIC connection from its first packet, for
// the metrics: whether it closed before its handshake completed.
type h3Handshake struct {
	conn atomic.Pointer[quic.Conn] // set by track, once http3 has it
}

type h3HandshakeKey struct{}

// countHandshake is the quic.Transport's ConnContext: it is called for
// each connection a client's first (Initial) packet opens, before the
// handshake, and counts the connection in
// gohttp_tls_handshake_errors_total{transport="quic"} if it closes
// without completing its handshake: a TLS alert either way (no ALPN in
// common, a certificate the client or the server refused), a handshake
// timeout, an Initial packet that does not decrypt.  That is what
// net/http counts (and logs) for TCP.
//
// quic-go hands a connection to http3 as soon as the client's first
// flight is read (an EarlyListener), so most failed handshakes have a
// *quic.Conn whose HandshakeComplete tells; one that failed before has
// none.  A connection that completed its handshake and closed before
// http3 took it, which takes a round trip against a goroutine's start,
// is told by its close: only an application closes with an
// ApplicationError.
func (m *serverMetrics) countHandshake(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	hs := new(h3Handshake)
	ctx = context.WithValue(ctx, h3HandshakeKey{}, hs)
	context.AfterFunc(ctx, func() { // the connection closed
		if c := hs.conn.Load(); c != nil {
			select {
			case <-c.HandshakeComplete(): // closed on success only
				return
			default:
			}
		} else if ae := (*quic.ApplicationError)(nil); errors.As(context.Cause(ctx), &ae) {
			return
		}
		m.tlsErrors[transportQUIC].Inc()
	})
	return ctx, nil
}

// counting wraps next to count the requests of each connection.
func countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hc, ok := r.Context().Value(h3ConnKey{}).(*h3Conn); ok {
			hc.active.Add(1)
			defer hc.active.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// h3IdleGrace is how long a shutdown lets a GOAWAY reach the clients, and
// requests sent before it reach their handlers, before it closes the
// connections that have no request in a handler.
const h3IdleGrace = 100 * time.Millisecond

// closeIdle closes, until stop is closed, the connections with no request
// in a handler.  quic-go's graceful shutdown waits for clients to close
// their connections after GOAWAY, which a client that went away never
// does: net/http closes its idle connections at once.
func (h *h3Server) closeIdle(stop <-chan struct{}) {
	t := time.NewTimer(h3IdleGrace)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		h.conns.Range(func(_, v any) bool {
			if hc := v.(*h3Conn); hc.active.Load() == 0 {
				hc.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
			}
			return true
		})
		t.Reset(20 * time.Millisecond)
	}
}

// h3Address is where HTTP/3 listens: o.bind, else the host and port of
// the first TCP listener among lns.
func h3Address(o h3Options, lns []net.Listener) (string, error) {
	if o.bind != "" {
		a, err := parseListenAddr(o.bind)
		if err != nil {
			return "", err
		}
		if a.network != "tcp" {
			return "", errInvalid("http3_bind %q: want HOST:PORT (a UDP address)", o.bind)
		}
		return a.address, nil
	}
	for _, ln := range lns {
		if a, ok := ln.Addr().(*net.TCPAddr); ok {
			return a.String(), nil
		}
	}
	return "", errInvalid("http3 needs a TCP address to share its port, or http3_bind: a Unix socket has no UDP twin")
}

// listenH3 binds the UDP socket of HTTP/3 at addr and makes its QUIC
// listener, ready to serve handler.  reusePort sets SO_REUSEPORT, so that
// the workers of one supervisor each bind the port (the kernel hashes a
// client's address and port to one of them).
func listenH3(o h3Options, addr string, reusePort bool, tlsConfig *tls.Config, handler http.Handler, cfg *config, m *serverMetrics) (*h3Server, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = setReusePort
	}
	conn, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	// conn goes to quic-go as it is, a *net.UDPConn: wrapped, it would
	// lose quic-go's fast paths (recvmmsg batches, GSO, ECN, DF).
	quietUDPBufferWarning()
	idle := cfg.idleTimeout
	if idle <= 0 {
		idle = cfg.readTimeout
	}
	qc := &quic.Config{
		Allow0RTT:          o.allow0RTT,
		MaxIncomingStreams: h3MaxStreams,
		MaxIdleTimeout:     idle, // 0: quic-go's 30 s
	}
	// A Transport of our own rather than quic.ListenEarly's, for its
	// ConnContext: it sees the connections whose handshake fails, which
	// never reach http3.
	tr := &quic.Transport{Conn: conn}
	if m != nil {
		tr.ConnContext = m.countHandshake
	}
	ln, err := tr.ListenEarly(http3.ConfigureTLSConfig(tlsConfig), qc)
	if err != nil {
		tr.Close()
		conn.Close()
		return nil, err
	}
	h := &h3Server{tr: tr, ln: ln, conn: conn, metrics: m, done: make(chan struct{})}
	h.srv = &http3.Server{
		Handler:        countRequests(handler),
		MaxHeaderBytes: cfg.maxHeaderBytes,
		IdleTimeout:    idle,
		ConnContext:    h.track,
	}
	return h, nil
}

// port is the UDP port HTTP/3 listens on.
func (h *h3Server) port() int {
	if a, ok := h.conn.LocalAddr().(*net.UDPAddr); ok {
		return a.Port
	}
	return 0
}

// altSvc is the Alt-Svc header value that points clients at h.
func (h *h3Server) altSvc() []string {
	return []string{`h3=":` + strconv.Itoa(h.port()) + `"; ma=` + strconv.Itoa(altSvcMaxAge)}
}

// serve serves until the listener closes; then done is closed.
func (h *h3Server) serve() {
	defer close(h.done)
	h.err = h.srv.ServeListener(h.ln)
}

// shutdown stops accepting connections, sends GOAWAY on those open and
// waits until their requests finish or ctx ends, then closes what is
// left and the UDP socket.  It reports whether all finished in time.
func (h *h3Server) shutdown(ctx context.Context) bool {
	h.ln.Close()
	stop := make(chan struct{})
	go h.closeIdle(stop)
	graceful := h.srv.Shutdown(ctx) == nil
	close(stop)
	if !graceful {
		h.srv.Close()
	}
	<-h.done
	h.tr.Close()
	h.conn.Close()
	return graceful
}

// close stops serving at once.
func (h *h3Server) close() {
	h.ln.Close()
	h.srv.Close()
	<-h.done
	h.tr.Close()
	h.conn.Close()
}

// failed reports why serving stopped, if not because the server closed.
func (h *h3Server) failed() error {
	if errors.Is(h.err, http.ErrServerClosed) || errors.Is(h.err, quic.ErrServerClosed) || errors.Is(h.err, net.ErrClosed) {
		return nil
	}
	return h.err
}

// dropHopHeaders removes the connection-specific fields that HTTP/3
// forbids (RFC 9114, 4.2) and a client would refuse the response for:
// a WSGI app's "Connection: close", say.
func dropHopHeaders(h http.Header) {
	for _, k := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}

// quietUDPBufferWarning turns quic-go's UDP buffer warning off: it
// would come from every worker, and without the fix.  The Python side
// checks the buffers once per server start, in the supervisor rather
// than each worker, and says what to set (gohttp/_http3.py).
func quietUDPBufferWarning() {
	if _, set := os.LookupEnv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"); !set {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "1")
	}
}

// advertiseH3 sets the Alt-Svc header that points HTTP/1.1 and HTTP/2
// clients at HTTP/3 on every response next makes; a Python handler's
// headers replace it, so its call sets it again (call.altSvc).
func advertiseH3(next http.Handler, altSvc []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Alt-Svc"] = altSvc
		next.ServeHTTP(w, r)
	})
}
