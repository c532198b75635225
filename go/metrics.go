package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/quic-go/quic-go"
)

// A server's metrics, counted by Go as requests pass, without the GIL:
// what docs/metrics.md lists.  A server has them once
// gohttp_server_metrics_listen has opened its metrics listener (ops.go);
// without, s.metrics is nil and no request pays for them.
//
// Labels stay bounded: a request is counted under the route pattern
// that matched it (the mount's pattern for a WSGI or ASGI app, never the
// raw path), its method among the nine of RFC 9110 and PATCH (others are
// "other"), and its status class ("2xx").
type serverMetrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec   // method, code, route
	duration     *prometheus.HistogramVec // route
	size         *prometheus.HistogramVec // route
	exceptions   *prometheus.CounterVec   // route
	inFlight     prometheus.Gauge
	waiting      prometheus.Gauge
	waited       prometheus.Histogram
	conns        *prometheus.GaugeVec // protocol
	connsByProto [nProtocols]prometheus.Gauge
	byProto      *prometheus.CounterVec // protocol
	reqsByProto  [nProtocols]prometheus.Counter
	accepted     prometheus.Counter
	tlsErrors    [nTransports]prometheus.Counter // by transportTCP, transportQUIC
	bytes        byteCounts

	routesMu sync.Mutex                              // serializes adding to routes
	routes   atomic.Pointer[map[string]*routeCounts] // copied on write
	last     atomic.Pointer[routeCounts]             // the route counted last
}

// The protocols of gohttp_connections_open.  A connection is counted
// once its protocol is known: from its first bytes without TLS (the
// HTTP/2 preface, or not), from its first request under TLS (ALPN).
const (
	protoHTTP1 = iota
	protoHTTP2
	// protoWebSocket: a connection upgraded to WebSocket moves from
	// http/1.1 to here (connRecord.switchTo); the WebSocket support
	// counts it when it takes the connection over.
	protoWebSocket
	// protoHTTP3: a QUIC connection, counted from its handshake to its
	// close (h3Server.track).
	protoHTTP3
	nProtocols
)

var protocolNames = [nProtocols]string{"http/1.1", "h2", "websocket", "h3"}

// The transports of gohttp_tls_handshake_errors_total: TLS over TCP
// (net/http's handshake, errorLogWriter counts it) and TLS in QUIC
// (quic-go's, countHandshake counts it).
const (
	transportTCP = iota
	transportQUIC
	nTransports
)

var transportNames = [nTransports]string{"tcp", "quic"}

// requestProtocol is the protocol label of gohttp_requests_by_protocol_total
// for a request of HTTP major version major.
func requestProtocol(major int) int {
	switch major {
	case 2:
		return protoHTTP2
	case 3:
		return protoHTTP3
	}
	return protoHTTP1
}

// The methods counted by name; any other is "other".
var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"}

const nMethods = len(methodNames)

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "DELETE":
		return 4
	case "PATCH":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return nMethods - 1
}

var classNames = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// noRoute is the route label of requests no pattern matched (404, 405,
// and those refused before routing, such as a 413 for a body too large).
const noRoute = "none"

// The buckets of the duration histogram, in seconds: from a
// millisecond, what Go answers alone, to ten seconds.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// The buckets of the response size histogram, in bytes: 64 B to 16 MiB.
var sizeBuckets = prometheus.ExponentialBuckets(64, 4, 10)

func newServerMetrics() *serverMetrics {
	m := &serverMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gohttp_requests_total",
			Help: "Requests answered, by method, status class and route pattern.",
		}, []string{"method", "code", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gohttp_request_duration_seconds",
			Help:    "How long requests took, from their headers read to their response written, by route pattern.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gohttp_response_size_bytes",
			Help:    "Response body sizes, by route pattern.",
			Buckets: sizeBuckets,
		}, []string{"route"}),
		exceptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gohttp_handler_exceptions_total",
			Help: "Python handlers (and WSGI or ASGI apps) that raised or failed, answered with a 500 or an aborted response, by route pattern.",
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gohttp_requests_in_flight",
			Help: "Requests being served now.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gohttp_handler_queue_waiting",
			Help: "Requests waiting for a place among max_handlers to run Python.",
		}),
		waited: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gohttp_handler_queue_wait_seconds",
			Help:    "How long requests that had to wait for a place among max_handlers waited.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gohttp_connections_open",
			Help: "Client connections open, by protocol (http/1.1, h2, websocket, h3), counted once their first bytes (cleartext) or first request (TLS) tell it; h3 from the QUIC handshake.",
		}, []string{"protocol"}),
		byProto: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gohttp_requests_by_protocol_total",
			Help: "Requests answered, by protocol (http/1.1, h2, h3).",
		}, []string{"protocol"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gohttp_connections_accepted_total",
			Help: "Client connections accepted.",
		}),
	}
	tlsErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gohttp_tls_handshake_errors_total",
		Help: "TLS handshakes that failed, by transport: tcp (HTTP/1.1 and HTTP/2), quic (HTTP/3).",
	}, []string{"transport"})
	for t := range nTransports {
		m.tlsErrors[t] = tlsErrors.WithLabelValues(transportNames[t])
	}
	for p := range nProtocols {
		m.connsByProto[p] = m.conns.WithLabelValues(protocolNames[p])
		if p != protoWebSocket {
			m.reqsByProto[p] = m.byProto.WithLabelValues(protocolNames[p])
		}
	}
	empty := map[string]*routeCounts{}
	m.routes.Store(&empty)
	m.reg.MustRegister(m.requests, m.duration, m.size, m.exceptions,
		m.inFlight, m.waiting, m.waited, m.conns, m.byProto, m.accepted, tlsErrors,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gohttp_received_bytes_total",
			Help: "Bytes received from clients: read from TCP connections, or in QUIC packets (under TLS and QUIC, the encrypted bytes).",
		}, m.bytes.received),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gohttp_sent_bytes_total",
			Help: "Bytes sent to clients: written to TCP connections, or in QUIC packets (under TLS and QUIC, the encrypted bytes).",
		}, m.bytes.sent),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// routeCounts holds one route's series, so that counting a request
// costs a map read and atomic adds, not a hash of its labels.
type routeCounts struct {
	name       string
	duration   prometheus.Observer
	size       prometheus.Observer
	exceptions prometheus.Counter
	mu         sync.Mutex // serializes filling requests
	requests   [nMethods][len(classNames)]atomic.Pointer[counterBox]
}

type counterBox struct{ prometheus.Counter }

// route returns the counts of the route pattern, making them the first
// time.
func (m *serverMetrics) route(pattern string) *routeCounts {
	if pattern == "" {
		pattern = noRoute
	}
	// The mux hands every request of a route the same string: a route
	// seen last is found by its pointer, without hashing it.
	if rc := m.last.Load(); rc != nil && len(rc.name) == len(pattern) &&
		unsafe.StringData(rc.name) == unsafe.StringData(pattern) {
		return rc
	}
	if rc, ok := (*m.routes.Load())[pattern]; ok {
		if m.last.Load() != rc {
			m.last.Store(rc)
		}
		return rc
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	old := *m.routes.Load()
	if rc, ok := old[pattern]; ok {
		return rc
	}
	rc := &routeCounts{
		name:       pattern,
		duration:   m.duration.WithLabelValues(pattern),
		size:       m.size.WithLabelValues(pattern),
		exceptions: m.exceptions.WithLabelValues(pattern),
	}
	routes := make(map[string]*routeCounts, len(old)+1)
	for k, v := range old {
		routes[k] = v
	}
	routes[pattern] = rc
	m.routes.Store(&routes)
	return rc
}

// count counts one request of method answered with status.
func (m *serverMetrics) count(rc *routeCounts, method string, status int) {
	mi, ci := methodIndex(method), status/100-1
	if ci < 0 || ci >= len(classNames) {
		ci = len(classNames) - 1 // a status Go would not send: count it as an error
	}
	slot := &rc.requests[mi][ci]
	box := slot.Load()
	if box == nil {
		rc.mu.Lock()
		if box = slot.Load(); box == nil {
			box = &counterBox{m.requests.WithLabelValues(methodNames[mi], classNames[ci], rc.name)}
			slot.Store(box)
		}
		rc.mu.Unlock()
	}
	box.Inc()
}

// wrap returns next with its requests counted and timed.  It goes
// inside the access log and the trusted proxies (their wrappers may
// copy the request), around the ServeMux, so that it reads the pattern
// the mux matched from the request (r.Pattern).
func (m *serverMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		if r.TLS != nil {
			// Only ALPN tells a TLS connection's protocol: the first
			// request does.  A cleartext one told its first bytes.
			if rec := connRecordOf(r); rec != nil {
				rec.first(m, r.ProtoMajor)
			}
		}
		mw := writerPool.Get().(*loggingWriter)
		*mw = loggingWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			status := mw.status
			if status == 0 {
				status = http.StatusOK // what net/http sends for an empty response
				if p != nil {
					status = http.StatusInternalServerError
				}
			}
			rc := m.route(r.Pattern)
			m.count(rc, r.Method, status)
			m.reqsByProto[requestProtocol(r.ProtoMajor)].Inc()
			rc.duration.Observe(time.Since(start).Seconds())
			rc.size.Observe(float64(mw.bytes))
			m.inFlight.Dec()
			*mw = loggingWriter{}
			writerPool.Put(mw)
			if p != nil {
				panic(p) // net/http closes the connection (http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(mw, r)
	})
}

// writerPool keeps the writers wrap puts around each response: net/http
// is done with a handler's writer when the handler returns (a hijacked
// connection's included), so one request's serves the next.
var writerPool = sync.Pool{New: func() any { return new(loggingWriter) }}

// failed counts a handler that failed (raised) on the route of r.
func (m *serverMetrics) failed(r *http.Request) {
	m.route(r.Pattern).exceptions.Inc()
}

// A connRecord follows one client connection for the metrics: its
// protocol, once its first bytes (cleartext) or its first request (TLS)
// tell it.
type connRecord struct {
	m *serverMetrics
	// proto is 0 until the first request, then 1 + its protocol, and -1
	// once the connection has closed.
	proto atomic.Int32
}

type connRecordKey struct{}

// connRecordOf returns the record of r's connection, or nil when the
// server counts no metrics.  A WebSocket's accept (asgiws.go) moves its
// connection to protoWebSocket.
func connRecordOf(r *http.Request) *connRecord {
	rec, _ := r.Context().Value(connRecordKey{}).(*connRecord)
	return rec
}

// first counts the connection under the protocol of its first request.
func (rec *connRecord) first(m *serverMetrics, protoMajor int) {
	if rec.proto.Load() != 0 {
		return
	}
	p := int32(protoHTTP1)
	if protoMajor == 2 {
		p = protoHTTP2
	}
	if rec.proto.CompareAndSwap(0, p+1) {
		m.connsByProto[p].Inc()
	}
}

// switchTo moves the connection to protocol p (an upgrade to
// WebSocket), if it is still open.
func (rec *connRecord) switchTo(p int32) {
	for {
		old := rec.proto.Load()
		if old <= 0 || old == p+1 {
			return
		}
		if rec.proto.CompareAndSwap(old, p+1) {
			rec.m.connsByProto[old-1].Dec()
			rec.m.connsByProto[p].Inc()
			return
		}
	}
}

// closed takes the connection out of the open ones.
func (rec *connRecord) closed() {
	if old := rec.proto.Swap(-1); old > 0 {
		rec.m.connsByProto[old-1].Dec()
	}
}

// wrapListener returns ln with its connections counted.  It must be the
// outermost of the server's listener wrappers: connContext finds the
// record on the connection net/http accepted (under TLS, the one the
// TLS connection wraps).  useTLS says whether TLS wraps them.
func (m *serverMetrics) wrapListener(ln net.Listener, useTLS bool) net.Listener {
	return &countingListener{Listener: ln, m: m, tls: useTLS}
}

type countingListener struct {
	net.Listener
	m   *serverMetrics
	tls bool
}

func (ln *countingListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ln.m.accepted.Inc()
	return &countedConn{wrappedConn: wrappedConn{c}, rec: connRecord{m: ln.m}, sniffing: !ln.tls}, nil
}

// A countedConn counts the bytes it reads and writes.  A cleartext one
// tells its protocol from its first bytes: HTTP/2's preface, or not.
// (net/http reads a connection from one goroutine at a time.)
type countedConn struct {
	wrappedConn
	rec      connRecord
	close    sync.Once
	sniffing bool        // its protocol is not yet known from its bytes
	seen     int         // how much of the HTTP/2 preface its bytes matched
	fresh    atomic.Bool // see server.trackFresh
}

// h2Preface is how an HTTP/2 client without TLS (h2c with prior
// knowledge) starts (RFC 9113 3.4).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.rec.m.bytes.tcpIn.Add(uint64(n))
		if c.sniffing {
			c.sniff(p[:n])
		}
	}
	return n, err
}

// sniff counts the connection under h2 once its bytes make the HTTP/2
// preface, under http/1.1 as soon as they cannot.
func (c *countedConn) sniff(b []byte) {
	k := min(len(b), len(h2Preface)-c.seen)
	switch {
	case !bytes.Equal(b[:k], h2Preface[c.seen:c.seen+k]):
		c.sniffing = false
		c.rec.first(c.rec.m, 1)
	case c.seen+k == len(h2Preface):
		c.sniffing = false
		c.rec.first(c.rec.m, 2)
	default:
		c.seen += k
	}
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.rec.m.bytes.tcpOut.Add(uint64(n))
	}
	return n, err
}

func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.wrappedConn.ReadFrom(r)
	if n > 0 {
		c.rec.m.bytes.tcpOut.Add(uint64(n))
	}
	return n, err
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.close.Do(c.rec.closed)
	return err
}

// connContext is the http.Server's ConnContext: it puts the
// connection's record where the metrics' wrap finds it.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*countedConn); ok {
		return context.WithValue(ctx, connRecordKey{}, &cc.rec)
	}
	return ctx
}

// errorLogWriter is the http.Server's error log: it counts the failed
// TLS handshakes net/http logs, and passes every line on to standard
// error, as net/http's default log does.
type errorLogWriter struct {
	m *serverMetrics
}

var tlsHandshakeError = []byte("http: TLS handshake error")

func (e errorLogWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, tlsHandshakeError) {
		e.m.tlsErrors[transportTCP].Inc()
	}
	return os.Stderr.Write(p)
}

// byteCounts counts the bytes of client connections: TCP's as they are
// read and written (countedConn), QUIC's from quic-go's own count of
// each connection's packets (quic.Conn.ConnectionStats), which keeps the
// UDP socket unwrapped and quic-go's fast paths on (batched reads, GSO,
// ECN need a *net.UDPConn).
type byteCounts struct {
	tcpIn, tcpOut atomic.Uint64

	mu          sync.Mutex
	h3In, h3Out uint64                  // the QUIC connections closed
	h3Open      map[*quic.Conn]struct{} // the others, counted when read
}

// quicOpened adds c's bytes to the counts, from now until it closes.
func (b *byteCounts) quicOpened(c *quic.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.h3Open == nil {
		b.h3Open = make(map[*quic.Conn]struct{})
	}
	b.h3Open[c] = struct{}{}
}

// quicClosed keeps the bytes of c, closed, in the counts.
func (b *byteCounts) quicClosed(c *quic.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := c.ConnectionStats() // under mu: a count read meanwhile is not more
	b.h3In += st.BytesReceived
	b.h3Out += st.BytesSent
	delete(b.h3Open, c)
}

// quic returns the bytes received and sent in QUIC packets.  A closing
// connection is counted once, open or closed: the counts never go back.
func (b *byteCounts) quic() (in, out uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, out = b.h3In, b.h3Out
	for c := range b.h3Open {
		st := c.ConnectionStats()
		in += st.BytesReceived
		out += st.BytesSent
	}
	return in, out
}

func (b *byteCounts) received() float64 {
	in, _ := b.quic()
	return float64(b.tcpIn.Load() + in)
}

func (b *byteCounts) sent() float64 {
	_, out := b.quic()
	return float64(b.tcpOut.Load() + out)
}
