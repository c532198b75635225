package main

/*
#include "bridge.h"
*/
import "C"

// gohttp_server_metrics_listen opens the server's metrics listener on
// addr (NUL-terminated: "HOST:PORT" or "unix:PATH"), which serves
// /metrics, /healthz and /readyz (docs/metrics.md), and stores its port
// in *port (0 for a Unix socket).  Call it before gohttp_server_listen:
// /readyz says "starting" until gohttp_server_set_ready.  Go copies addr.
// The listener closes when the server has shut down and drained.  With
// supervisor != 0 the server is a supervisor's, which never serves: its
// /metrics shows its workers' (gohttp_server_metrics_workers).
//
//export gohttp_server_metrics_listen
func gohttp_server_metrics_listen(h C.uintptr_t, addr *C.char, supervisor C.int32_t, port *C.int32_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*port = 0
	s, e := lookupServer(h)
	if e != nil {
		return report(err, e)
	}
	p, e := s.metricsListen(C.GoString(addr), supervisor != 0)
	if e != nil {
		return report(err, e)
	}
	*port = C.int32_t(p)
	return C.GOHTTP_OK
}

// gohttp_server_set_ready sets what the server's /readyz says: 0
// starting, 1 ready, 2 draining (503 but for 1).  A shutdown sets 2
// itself.  GOHTTP_ECLOSED without a metrics listener.
//
//export gohttp_server_set_ready
func gohttp_server_set_ready(h C.uintptr_t, state C.int32_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.setReady(int32(state))
	}
	return report(err, e)
}

// gohttp_server_metrics_workers sets the workers a supervisor's /metrics
// gathers from: spec (NUL-terminated, copied) is lines "LABEL=PATH", each
// a worker's label and the Unix socket its own metrics listener is on.
// GOHTTP_ECLOSED unless gohttp_server_metrics_listen made the server a
// supervisor's.
//
//export gohttp_server_metrics_workers
func gohttp_server_metrics_workers(h C.uintptr_t, spec *C.char, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.setWorkers(C.GoString(spec))
	}
	return report(err, e)
}
