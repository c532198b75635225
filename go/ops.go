package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness, as /readyz tells it.
const (
	readyStarting = iota // not yet listening, or the app's startup runs
	readyServing
	readyDraining // shutting down: take it out of the load balancer
)

var readyText = [...]string{"starting\n", "ready\n", "draining\n"}

// An opsEndpoint is the metrics listener: /metrics in the Prometheus
// text format, /healthz and /readyz for probes, on a listener of its own
// (never the app's), served by Go alone.
type opsEndpoint struct {
	ln    net.Listener
	hs    *http.Server
	ready atomic.Int32
	once  sync.Once
	done  chan struct{}
}

// openOps listens on addr (HOST:PORT or unix:PATH) and serves g's
// metrics there.
func openOps(addr string, g prometheus.Gatherer) (*opsEndpoint, error) {
	a, err := parseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	switch a.network {
	case "tcp":
		ln, err = net.Listen("tcp", a.address)
	case "unix":
		ln, err = listenUnix(a.address)
	default:
		return nil, errInvalid("the metrics listener takes HOST:PORT or unix:PATH, not %q", addr)
	}
	if err != nil {
		return nil, err
	}
	o := &opsEndpoint{ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		state := o.ready.Load()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if state != readyServing {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(readyText[state]))
	})
	o.hs = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		defer close(o.done)
		if err := o.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.ln.Close()
		}
	}()
	return o, nil
}

// port returns the port it listens on, 0 for a Unix socket.
func (o *opsEndpoint) port() int {
	if a, ok := o.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

func (o *opsEndpoint) setReady(state int32) {
	o.ready.Store(state)
}

// close stops the listener, letting a scrape under way finish for a
// moment.
func (o *opsEndpoint) close() {
	o.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if o.hs.Shutdown(ctx) != nil {
			o.hs.Close()
		}
		<-o.done
	})
}
