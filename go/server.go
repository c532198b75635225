package main

/*
#include "bridge.h"
*/
import "C"

import (
	"context"
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Server states.  A server goes new → serving → closed, or new → closed.
const (
	stateNew = iota
	stateServing
	stateClosed
)

// A server is one http.Server with its ServeMux, the lane that runs its
// handlers, and the calls they use.
type server struct {
	mux  *http.ServeMux
	lane *lane
	busy atomic.Int64 // calls taken from the pool and not yet returned

	// Connections accepted that have not yet sent a request (see
	// trackFresh), which a shutdown waits for.
	fresh      atomic.Int64
	freshConns sync.Map       // net.Conn -> struct{}
	accepting  sync.WaitGroup // the serve goroutines

	callsMu sync.Mutex
	idle    []*call // calls not in use, up to keptCalls; the rest are let go

	mu       sync.Mutex // guards the fields below
	state    int
	hs       *http.Server
	done     chan struct{}      // closed once stopped and drained
	serveErr error              // why Serve stopped, if not by shutdown
	forced   bool               // the shutdown cut requests off
	hurry    context.CancelFunc // ends the graceful wait of a shutdown
	addrs    []string           // what listen bound
	lns      []net.Listener     // what serve accepts on
	log      *accessLog         // nil: no access log
	certs    *certSource        // nil: no TLS
	statics  []*staticDir       // closed by free
	h3       *h3Server          // nil: no HTTP/3
	altSvc   []string           // the Alt-Svc header of TCP responses; nil: none

	ws     wsConns   // open WebSockets (asgiws.go)
	wsOpts wsOptions // set by listen; read by WebSocket requests

	// The metrics listener and what it counts (metrics.go, ops.go): nil
	// unless metricsListen opened it, before listen.
	metrics *serverMetrics
	ops     *opsEndpoint
	workers *workerSet // a supervisor's: see opsworkers.go
}

// newServer makes a server whose lane runs up to maxHandlers calls;
// parallel says whether Python runs handlers in parallel (the GIL off).
// A lane needs a place at least: gohttp.Server checks the user's value,
// this only guards the lane.
func newServer(maxHandlers int, parallel bool) (*server, error) {
	if maxHandlers < 1 {
		return nil, errInvalid("max_handlers must be at least 1, not %d", maxHandlers)
	}
	// Under the GIL one place; with the GIL off, one per CPU from the
	// start, so CPU-bound handlers use every core at once.
	places := 1
	if parallel {
		places = min(maxHandlers, runtime.GOMAXPROCS(0))
	}
	s := &server{
		mux:  http.NewServeMux(),
		lane: newLane(places, maxHandlers),
		done: make(chan struct{}),

		wsOpts: defaultWSOptions,
	}
	return s, nil
}

// getCall returns a free call, making one if none is free.
func (s *server) getCall() *call {
	s.busy.Add(1)
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return c
	}
	return newCall()
}

// keptCalls is how many idle calls a server keeps, with their buffers,
// for the next requests: more than most servers have in flight at once.
const keptCalls = 64

// putCall returns c, whose request has ended, to the free calls; or lets
// it go (retire) if keptCalls are free already, as after a burst of
// requests that waited in the lane together (a burst of 5,000 made 5,000
// calls).
func (s *server) putCall(c *call) {
	s.callsMu.Lock()
	kept := len(s.idle) < keptCalls
	if kept {
		s.idle = append(s.idle, c)
	}
	s.callsMu.Unlock()
	if !kept {
		c.retire()
	}
	s.busy.Add(-1)
}

// handle registers a route whose requests go to the Python handler
// value, through the lane.
func (s *server) handle(pattern string, handler uintptr) error {
	return s.register(pattern, handler, s.lane.run)
}

// register adds pattern to the mux, served by route with run.  A bad or
// conflicting pattern is an EINVAL error with the mux's message; a server
// that was shut down refuses new routes (ECLOSED), as it refuses to serve
// again (and the C side could never learn when to free their handlers).
func (s *server) register(pattern string, handler uintptr, run func(*call) C.gohttp_outcome) error {
	return s.add(pattern, s.route(handler, wildcardNames(pattern), run))
}

// add adds pattern to the mux, served by h.  A bad or conflicting
// pattern is an EINVAL error with the mux's message.
func (s *server) add(pattern string, h http.Handler) (err error) {
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if closed {
		return errServerState("the server was shut down: routes no longer change; create a new Server to serve again")
	}
	defer func() {
		if p := recover(); p != nil {
			err = errInvalid("%v", p)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// route returns the http.Handler that runs one handler value in C with
// run, and answers for a handler that failed.
func (s *server) route(handler uintptr, names []string, run func(*call) C.gohttp_outcome) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.getCall()
		defer s.putCall(c)

		c.begin(w, r, handler, names)
		c.altSvc = s.altSvc
		outcome := run(c)
		started := c.end(outcome)
		if c.fullDuplex && r.ProtoMajor == 1 {
			// net/http discards what the handler left of the body when
			// it closes it, after the handler returns.  For a full-duplex
			// response that is too late: reaching the end of the body
			// then starts its read of the next request, which it has
			// already stopped waiting for, and the loop that reads that
			// request panics ("invalid concurrent Body.Read call") and
			// drops the connection.  Closed here, the read starts while
			// the handler runs and net/http stops it as it should
			// (golang/go#68560, open).
			r.Body.Close()
		}

		if outcome == C.GOHTTP_HANDLED {
			c.closeIfBroken(w, started)
		} else if outcome == C.GOHTTP_FAILED && s.metrics != nil {
			s.metrics.failed(r)
		}
		answer(w, r, outcome, started)
	})
}

// answer ends a response whose handler said outcome, once the call has
// ended: nothing to do if it was handled, else a 503, 413 or 500 if the
// response had not started, or an abort if it had.
func answer(w http.ResponseWriter, r *http.Request, outcome C.gohttp_outcome, started bool) {
	switch {
	case outcome == C.GOHTTP_HANDLED:
	case !started && outcome == C.GOHTTP_UNAVAILABLE:
		http.Error(w, "503 service unavailable: the server is shutting down", http.StatusServiceUnavailable)
	case !started && bodyTooLarge(r):
		http.Error(w, "413 request entity too large", http.StatusRequestEntityTooLarge)
	case !started:
		closeAfter(w, r)
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
	default:
		// Part of a response is out; the rest cannot be made valid.
		panic(http.ErrAbortHandler)
	}
}

// closeAfter makes the response to r the last on its connection, when
// that connection is HTTP/1.x: the handler may have left the body half
// read (a read timeout, a reset), and where it ends on the wire is then
// unknown.  An HTTP/2 stream's unread body is the stream's own: Go resets
// or drains it, and the connection's other streams go on.  Connection:
// close there would make Go send a GOAWAY, closing the connection to
// every stream in flight on it (found by the soak: bench/results.md).
// Call it before the response starts.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// config is a server's settings: gohttp_config (bridge.h) read into Go.
type config struct {
	tcp               bool // listen on host:port
	host              string
	port              int
	binds             []string // more addresses: see listeners.go
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
	maxBodyBytes      int64 // 0: no limit
	maxConnections    int   // 0: no limit
	tls               tlsOptions
	http2Cleartext    bool
	accessLog         string // "": off; "-": standard error
	accessLogFormat   logFormat
	forwardedAllowIPs string
	reusePort         bool // SO_REUSEPORT on TCP listeners (and HTTP/3's UDP socket)
	ws                wsOptions
	http3             h3Options
	tcpKeepAlive      time.Duration // of accepted TCP connections; 0: none
}

// configFrom copies what c says; c is C memory, read during the call only.
func configFrom(c *C.gohttp_config) config {
	cfg := config{
		tcp:               c.host != nil,
		host:              C.GoString(c.host),
		port:              int(c.port),
		readHeaderTimeout: time.Duration(c.read_header_timeout_ns),
		readTimeout:       time.Duration(c.read_timeout_ns),
		writeTimeout:      time.Duration(c.write_timeout_ns),
		idleTimeout:       time.Duration(c.idle_timeout_ns),
		maxHeaderBytes:    int(c.max_header_bytes),
		maxBodyBytes:      int64(c.max_body_bytes),
		maxConnections:    int(c.max_connections),
		tls: tlsOptions{
			certFile:    C.GoString(c.certfile),
			keyFile:     C.GoString(c.keyfile),
			keyPassword: C.GoString(c.ssl_keyfile_password),
			caFile:      C.GoString(c.ssl_ca_certs),
			clientAuth:  int(c.ssl_cert_reqs),
			minVersion:  C.GoString(c.ssl_min_version),
			ciphers:     C.GoString(c.ssl_ciphers),
		},
		http2Cleartext:    c.http2_cleartext != 0,
		accessLog:         C.GoString(c.access_log),
		accessLogFormat:   logFormat(c.access_log_format),
		forwardedAllowIPs: C.GoString(c.forwarded_allow_ips),
		reusePort:         c.reuse_port != 0,
		tcpKeepAlive:      time.Duration(max(c.tcp_keepalive, 0)) * time.Second,
		http3: h3Options{
			enabled:   c.http3 != 0,
			bind:      C.GoString(c.http3_bind),
			allow0RTT: c.http3_0rtt != 0,
		},
		ws: wsOptions{
			maxSize:        int64(c.ws_max_size),
			pingInterval:   time.Duration(c.ws_ping_interval_ns),
			pingTimeout:    time.Duration(c.ws_ping_timeout_ns),
			deflate:        c.ws_per_message_deflate != 0,
			maxConnections: int(c.ws_max_connections),
		},
	}
	if cfg.ws.maxSize <= 0 {
		cfg.ws.maxSize = defaultWSOptions.maxSize
	}
	if c.nbinds > 0 && c.binds != nil {
		for _, b := range unsafe.Slice(c.binds, int(c.nbinds)) {
			cfg.binds = append(cfg.binds, C.GoString(b))
		}
	}
	return cfg
}

// handler is what serves every request: the ServeMux behind the
// middleware cfg asks for, outermost first: trusted proxies (so that the
// log and the limits see the real client), the access log (so that it
// logs the 413s), the metrics (which read the pattern the mux matched
// from the request, and the body limit leaves it as it is), the body
// limit.
func (s *server) handler(cfg *config, log *accessLog, trusted *proxies) http.Handler {
	var h http.Handler = s.mux
	if cfg.maxBodyBytes > 0 {
		h = limitBody(h, cfg.maxBodyBytes)
	}
	if s.metrics != nil {
		h = s.metrics.wrap(h)
	}
	if log != nil {
		h = log.wrap(h)
	}
	if trusted != nil {
		h = trusted.wrap(h)
	}
	return h
}

// listen checks cfg, binds its addresses and starts serving them in the
// background.  It returns the port of the first TCP listener (0 if none).
// Nothing is bound unless everything checks out: a bad certificate or
// option fails before any listener opens.
func (s *server) listen(cfg config) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateServing:
		return 0, errServerState("the server is already serving")
	case stateClosed:
		return 0, errServerState("the server was shut down: create a new Server to serve again")
	}
	addrs := cfg.binds
	if cfg.tcp {
		addrs = append([]string{net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port))}, addrs...)
	}
	if len(addrs) == 0 {
		return 0, errInvalid("nothing to listen on: give a host and port, or bind addresses")
	}
	tlsConfig, certs, err := loadTLS(cfg.tls)
	if err != nil {
		return 0, err
	}
	if cfg.http3.enabled && tlsConfig == nil {
		return 0, errInvalid("http3 needs TLS: give certfile and keyfile (QUIC is always encrypted)")
	}
	trusted, err := parseProxies(cfg.forwardedAllowIPs)
	if err != nil {
		return 0, err
	}
	var log *accessLog
	if cfg.accessLog != "" {
		if log, err = openAccessLog(cfg.accessLog, cfg.accessLogFormat); err != nil {
			return 0, err
		}
	}

	var lns []net.Listener
	for _, addr := range addrs {
		ln, err := listenAddr(addr, listenOptions{reusePort: cfg.reusePort, keepAlive: cfg.tcpKeepAlive})
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			if log != nil {
				log.close()
			}
			return 0, err
		}
		lns = append(lns, ln)
	}
	handler := s.handler(&cfg, log, trusted)
	var h3 *h3Server
	if cfg.http3.enabled {
		addr, err := h3Address(cfg.http3, lns)
		if err == nil {
			h3, err = listenH3(cfg.http3, addr, cfg.reusePort, tlsConfig, handler, &cfg, s.metrics)
		}
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			if log != nil {
				log.close()
			}
			return 0, err
		}
	}
	port := 0
	s.addrs = s.addrs[:0]
	for _, ln := range lns {
		if a, ok := ln.Addr().(*net.TCPAddr); ok && port == 0 {
			port = a.Port
		}
		s.addrs = append(s.addrs, addrString(ln.Addr()))
	}
	tcpHandler := handler
	s.h3, s.altSvc = h3, nil
	if h3 != nil {
		s.altSvc = h3.altSvc()
		tcpHandler = advertiseH3(handler, s.altSvc)
	}
	if sw := newSweeper(shortestReadTimeout(&cfg, tlsConfig != nil), s.done); sw != nil {
		for i := range lns {
			lns[i] = sw.wrap(lns[i])
		}
	}
	if cfg.maxConnections > 0 {
		limit := newConnLimit(cfg.maxConnections)
		for i := range lns {
			lns[i] = limit.wrap(lns[i])
		}
	}
	if s.metrics != nil {
		for i := range lns {
			lns[i] = s.metrics.wrapListener(lns[i], tlsConfig != nil) // outermost: see connContext
		}
	}

	s.hs = &http.Server{
		Handler:           tcpHandler,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    cfg.maxHeaderBytes,
		TLSConfig:         tlsConfig,
		Protocols:         protocols(cfg.http2Cleartext),
		HTTP2:             &http.HTTP2Config{MaxReadFrameSize: http2FrameSize},
		ConnState:         s.trackFresh,
	}
	if certs != nil && s.metrics != nil {
		s.hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return connContext(withServedCert(ctx, c), c)
		}
	} else if certs != nil {
		s.hs.ConnContext = withServedCert // tls_state.go
	} else if s.metrics != nil {
		s.hs.ConnContext = connContext // metrics.go
	}
	if s.metrics != nil {
		s.hs.ErrorLog = stdlog.New(errorLogWriter{s.metrics}, "", stdlog.LstdFlags)
	}
	s.log = log
	s.certs = certs
	s.wsOpts = cfg.ws
	s.ws.setMax(cfg.ws.maxConnections)
	s.lns = lns
	s.state = stateServing
	s.accepting.Add(len(lns))
	for _, ln := range lns {
		go s.serve(ln, tlsConfig != nil)
	}
	if h3 != nil {
		go s.serveH3(h3)
	}
	return port, nil
}

// trackFresh counts the connections accepted that have not yet sent a
// request.  It runs on every state change, so on every request of a
// keep-alive connection: then it is one atomic load.  A connection one
// of our listeners wrapped carries its own mark (see freshMarkOf);
// only a bare one (no timeouts, no limit, no metrics) goes in a map,
// whose entry costs an allocation and a hash on each connection.
func (s *server) trackFresh(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		if m := freshMarkOf(c); m != nil {
			m.Store(true)
		} else {
			s.freshConns.Store(c, struct{}{})
		}
		s.fresh.Add(1)
	case http.StateActive, http.StateClosed, http.StateHijacked:
		if s.fresh.Load() > 0 {
			if m := freshMarkOf(c); m != nil {
				if m.Load() && m.CompareAndSwap(true, false) {
					s.fresh.Add(-1)
				}
			} else if _, ok := s.freshConns.LoadAndDelete(c); ok {
				s.fresh.Add(-1)
			}
		}
	}
}

// freshGrace is how long a shutdown waits for accepted connections to
// send their first request.
const freshGrace = time.Second

// stopAccepting closes the listeners, then waits (up to freshGrace, or
// ctx) until every connection already accepted has sent its request.
// http.Server.Shutdown would close such a connection unanswered once it
// reads the request, and a client (or a worker that replaces this one
// on a shared socket) would lose it.
func (s *server) stopAccepting(ctx context.Context, lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
	s.accepting.Wait() // a connection accepted meanwhile is counted now
	grace := time.NewTimer(freshGrace)
	defer grace.Stop()
	for s.fresh.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-grace.C:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// serve serves one listener until the server shuts down.  If serving
// fails otherwise (accept fails for good), the server stops: its other
// listeners close, and wait reports the error.
func (s *server) serve(ln net.Listener, useTLS bool) {
	defer s.accepting.Done()
	var err error
	if useTLS {
		err = s.hs.ServeTLS(ln, "", "") // the certificate is in TLSConfig
	} else {
		err = s.hs.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return
	}
	s.fail(err)
}

// serveH3 serves HTTP/3 until the server shuts down; failing otherwise,
// it stops the server as serve does.
func (s *server) serveH3(h3 *h3Server) {
	h3.serve()
	if err := h3.failed(); err != nil {
		s.fail(err)
	}
}

// fail stops a server whose serving failed with err, unless a shutdown
// is under way or another listener failed first.
func (s *server) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateServing {
		return
	}
	s.serveErr = err
	s.state = stateClosed
	s.hs.Close()
	if s.h3 != nil {
		go s.h3.close() // it may be the one failing: it waits for its serve
	}
	s.closeLog()
	close(s.done)
}

// handled returns how many handler calls the server has finished: the
// requests that ran Python (not those Go answered alone, such as static
// files and 404s).
func (s *server) handled() uint64 {
	return s.lane.finished.Load()
}

// addresses returns the addresses the server listens on, as listen bound
// them: "127.0.0.1:8000", "[::1]:8000", "unix:/run/app.sock".
func (s *server) addresses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// http3Port returns the UDP port HTTP/3 listens on, as listen bound it
// (the one the OS picked for port 0); 0 without HTTP/3.
func (s *server) http3Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h3 == nil {
		return 0
	}
	return s.h3.port()
}

// static registers a route that serves the files under dir for the URL
// subtree prefix, by Go alone (see staticDir).  A missing directory is an
// I/O error (ENOENT); a bad or conflicting prefix an EINVAL one.
func (s *server) static(prefix, dir string, listing bool) (err error) {
	if err := checkStaticPrefix(prefix); err != nil {
		return err
	}
	d, err := newStaticDir(prefix, dir, listing)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			d.Close()
			err = errInvalid("%v", p)
		}
	}()
	s.mux.Handle("GET "+prefix, d)
	s.mu.Lock()
	s.statics = append(s.statics, d)
	s.mu.Unlock()
	return nil
}

// closeLog writes out and closes the access log, if any.  Call it with
// s.mu held, once no request is left to log.
func (s *server) closeLog() {
	if s.log != nil {
		s.log.close()
	}
}

// wait blocks until the server has stopped or timeout has passed.  Once
// stopped, forced tells whether its shutdown cut requests off.
func (s *server) wait(timeout time.Duration) (stopped, forced bool, err error) {
	select {
	case <-s.done:
		return s.stopped()
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.done:
		return s.stopped()
	case <-t.C:
		return false, false, nil
	}
}

func (s *server) stopped() (stopped, forced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.forced, s.serveErr
}

// shutdown stops the server: it closes the listener, lets in-flight
// requests finish for up to timeout, then closes what is left and waits
// for handlers still in C.  It reports whether all finished in time.
// Calling it again, or on a server that never served, is harmless.
func (s *server) shutdown(timeout time.Duration) (graceful bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.mu.Lock()
	if s.ops != nil {
		s.ops.setReady(readyDraining)
	}
	prev, hurry := s.state, s.hurry
	s.state = stateClosed
	if prev == stateServing {
		s.hurry = cancel
	}
	hs, lns, h3 := s.hs, s.lns, s.h3
	s.mu.Unlock()
	switch prev {
	case stateNew:
		s.closeOps()
		close(s.done)
		return true
	case stateClosed:
		if timeout <= 0 && hurry != nil {
			hurry() // cut short a graceful shutdown under way
		}
		<-s.done // another shutdown, or a failed Serve, finishes it
		return true
	}

	// HTTP/3 stops beside TCP: GOAWAY on its connections, whose
	// requests in flight finish within the same deadline.
	h3graceful := make(chan bool, 1)
	if h3 != nil {
		go func() { h3graceful <- h3.shutdown(ctx) }()
	} else {
		h3graceful <- true
	}
	s.stopAccepting(ctx, lns)
	// Shutdown's error is the listeners' (closed already) unless time
	// ran out.
	graceful = hs.Shutdown(ctx) == nil || ctx.Err() == nil
	if !graceful {
		hs.Close()
	}
	if !<-h3graceful {
		graceful = false
	}
	// Shutdown does not wait for WebSockets (net/http forgets a
	// hijacked connection): once the requests have ended, or had their
	// time, they go away (1001), and their apps get wsCloseGrace at
	// least to see it and return.
	s.ws.closeAll()
	if deadline, _ := ctx.Deadline(); s.ws.count() > 0 && time.Until(deadline) < wsCloseGrace {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), wsCloseGrace)
		defer cancel()
	}
	// Close does not wait for handlers, and a handler cannot be stopped
	// from outside: wait for those still in C until the deadline.
	for s.busy.Load() > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if s.busy.Load() > 0 {
		graceful = false
	}
	s.mu.Lock()
	s.forced = !graceful
	s.closeLog()
	s.mu.Unlock()
	s.closeOps()
	close(s.done)
	return graceful
}

// http2FrameSize is the largest HTTP/2 frame a client may send us:
// RFC 9113's initial 16 KiB, where Go's own default is 1 MiB.  A
// connection's frame reader keeps a buffer of the largest frame it read,
// and Go (1.26) keeps a connection that died with streams open for the
// whole IdleTimeout after (its serve loop stops the idle timer, then
// closing the streams starts it again): a client that sends large DATA
// frames and resets would hold up to 1 MiB a connection for two minutes
// (found by the soak, bench/results.md).  Browsers, curl and nghttp2
// send 16 KiB frames anyway.
const http2FrameSize = 16 << 10

// metricsListen opens the metrics listener on addr, for a server not yet
// serving (so that /readyz says "starting" while the app starts), and
// returns its port (0 for a Unix socket).  A supervisor's server, which
// never serves, shows its workers' metrics instead (setWorkers).
func (s *server) metricsListen(addr string, supervisor bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state != stateNew:
		return 0, errServerState("the metrics listener opens before the server serves")
	case s.ops != nil:
		return 0, errServerState("the metrics listener is open already")
	}
	if supervisor {
		ws := &workerSet{}
		o, err := openOps(addr, supervisorGatherer(ws))
		if err != nil {
			return 0, err
		}
		s.ops, s.workers = o, ws
		return o.port(), nil
	}
	m := newServerMetrics()
	o, err := openOps(addr, m.reg)
	if err != nil {
		return 0, err
	}
	s.metrics, s.ops = m, o
	s.lane.metrics = m
	return o.port(), nil
}

// setWorkers sets the workers a supervisor's /metrics shows: spec is
// lines "LABEL=PATH", each a worker's label and the Unix socket it
// serves its metrics on.
func (s *server) setWorkers(spec string) error {
	s.mu.Lock()
	ws := s.workers
	s.mu.Unlock()
	if ws == nil {
		return errServerState("not a supervisor's metrics listener")
	}
	return ws.set(spec)
}

// setReady sets what /readyz says.
func (s *server) setReady(state int32) error {
	if state < readyStarting || state > readyDraining {
		return errInvalid("unknown readiness %d", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops == nil {
		return errServerState("the server has no metrics listener")
	}
	s.ops.setReady(state)
	return nil
}

// closeOps closes the metrics listener, if any.
func (s *server) closeOps() {
	s.mu.Lock()
	o := s.ops
	s.mu.Unlock()
	if o != nil {
		o.close()
	}
}

// free releases the handles of a server's calls.  A handler still
// running past a forced shutdown keeps its call, so free then leaks the
// handles rather than pull them from under it, and reports false.
func (s *server) free() bool {
	if s.busy.Load() > 0 {
		return false
	}
	s.closeOps() // shut down already, unless the server never was
	s.lane.close()
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	for _, c := range s.idle { // with none busy, every call left
		c.retire()
	}
	s.idle = nil
	s.mu.Lock()
	for _, d := range s.statics {
		d.Close()
	}
	s.statics = nil
	s.mu.Unlock()
	return true
}
