package main

/*
#include "bridge.h"
*/
import "C"

// gohttp_server_reload_tls loads the server's certificate and key from
// their files again, now (as SIGHUP asks), for the handshakes to come.
// If they cannot be loaded the current certificate stays, and the error
// says why: GOHTTP_EIO for a file that cannot be read, GOHTTP_EINVAL for
// one that is not a good pair.  A server without TLS, or not serving,
// is GOHTTP_ECLOSED.  Call it without the GIL: it reads files.
//
//export gohttp_server_reload_tls
func gohttp_server_reload_tls(h C.uintptr_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	s, e := lookupServer(h)
	if e == nil {
		e = s.reloadTLS()
	}
	return report(err, e)
}
