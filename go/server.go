package main

/*
#include "bridge.h"
*/
import "C"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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

	callsMu sync.Mutex
	idle    []*call // calls not in use
	all     []*call // every call made, to free their handles

	mu       sync.Mutex // guards the fields below
	state    int
	hs       *http.Server
	done     chan struct{}      // closed once stopped and drained
	serveErr error              // why Serve stopped, if not by shutdown
	forced   bool               // the shutdown cut requests off
	hurry    context.CancelFunc // ends the graceful wait of a shutdown
}

func newServer(maxHandlers int) (*server, error) {
	if maxHandlers < 1 {
		return nil, errInvalid("max_handlers must be at least 1, not %d", maxHandlers)
	}
	s := &server{
		mux:  http.NewServeMux(),
		lane: newLane(maxHandlers),
		done: make(chan struct{}),
	}
	return s, nil
}

// getCall returns a free call, making one if none is free.  There are
// as many calls as requests were ever in flight at once.
func (s *server) getCall() *call {
	s.busy.Add(1)
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return c
	}
	c := newCall()
	s.all = append(s.all, c)
	return c
}

func (s *server) putCall(c *call) {
	s.callsMu.Lock()
	s.idle = append(s.idle, c)
	s.callsMu.Unlock()
	s.busy.Add(-1)
}

// handle registers a route whose requests go to the C handler value.
// A bad or conflicting pattern is an EINVAL error with the mux's message.
func (s *server) handle(pattern string, handler uintptr) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errInvalid("%v", p)
		}
	}()
	s.mux.Handle(pattern, s.route(handler, wildcardNames(pattern)))
	return nil
}

// route returns the http.Handler that runs one C handler.
func (s *server) route(handler uintptr, names []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.getCall()
		defer s.putCall(c)

		c.begin(w, r, handler, names)
		outcome := s.lane.run(c)
		started := c.end()

		switch {
		case outcome == C.GOHTTP_HANDLED:
		case !started && outcome == C.GOHTTP_UNAVAILABLE:
			http.Error(w, "503 service unavailable: the server is shutting down", http.StatusServiceUnavailable)
		case !started:
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
		default:
			// Part of a response is out; the rest cannot be made valid.
			panic(http.ErrAbortHandler)
		}
	})
}

// listen binds the address in cfg and starts serving in the background.
// It returns the bound port.
func (s *server) listen(cfg *C.gohttp_config) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateServing:
		return 0, errState("the server is already serving")
	case stateClosed:
		return 0, errState("the server was shut down: create a new Server to serve again")
	}
	addr := net.JoinHostPort(C.GoString(cfg.host), strconv.Itoa(int(cfg.port)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	s.hs = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: time.Duration(cfg.read_header_timeout_ns),
		ReadTimeout:       time.Duration(cfg.read_timeout_ns),
		WriteTimeout:      time.Duration(cfg.write_timeout_ns),
		IdleTimeout:       time.Duration(cfg.idle_timeout_ns),
		MaxHeaderBytes:    int(cfg.max_header_bytes),
	}
	s.state = stateServing
	go func() {
		err := s.hs.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			s.mu.Lock()
			s.serveErr = err
			s.state = stateClosed
			s.mu.Unlock()
			close(s.done)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, nil
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
	prev, hurry := s.state, s.hurry
	s.state = stateClosed
	if prev == stateServing {
		s.hurry = cancel
	}
	hs := s.hs
	s.mu.Unlock()
	switch prev {
	case stateNew:
		close(s.done)
		return true
	case stateClosed:
		if timeout <= 0 && hurry != nil {
			hurry() // cut short a graceful shutdown under way
		}
		<-s.done // another shutdown, or a failed Serve, finishes it
		return true
	}

	graceful = hs.Shutdown(ctx) == nil
	if !graceful {
		hs.Close()
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
	s.mu.Unlock()
	close(s.done)
	return graceful
}

// free releases the handles of a server's calls.  A handler still
// running past a forced shutdown keeps its call, so free then leaks the
// handles rather than pull them from under it, and reports false.
func (s *server) free() bool {
	if s.busy.Load() > 0 {
		return false
	}
	s.lane.close()
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	for _, c := range s.all {
		c.handle.Delete()
	}
	s.all, s.idle = nil, nil
	return true
}
