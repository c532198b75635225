package main

// The exports of the ASGI WebSocket path (asgiws.go): what the loop's
// thread calls for websocket.accept, websocket.send and websocket.close.
// Same rules as asgi_exports.go: a gohttp_status back, err filled on
// failure, no panic into C, none waits on the network; bridge.h's rule 8
// says who owns what.  websocket.receive uses gohttp_asgi_read, the
// denial response (websocket.http.response.*) gohttp_asgi_body.

/*
#include "bridge.h"
*/
import "C"

// lookupWS is lookupASGI for a WebSocket: on success c.mu is held.
func lookupWS(h C.uintptr_t, generation C.uint64_t) (*call, *asgiState, *wsState, error) {
	c, a, err := lookupASGI(h, generation)
	if err != nil {
		return nil, nil, nil, err
	}
	if a.ws == nil {
		c.mu.Unlock()
		return nil, nil, nil, errState("not a WebSocket")
	}
	return c, a, a.ws, nil
}

// gohttp_asgi_ws_accept accepts the WebSocket: the request's goroutine
// does the handshake, choosing the subprotocol (sn bytes at subprotocol;
// 0: none) and adding the hn bytes at headers (a packed list of key,
// value pairs, keys in canonical form) to its response.  Both are read
// during the call only.  Messages sent afterwards go out after it.
//
//export gohttp_asgi_ws_accept
func gohttp_asgi_ws_accept(h C.uintptr_t, generation C.uint64_t, subprotocol *C.char, sn C.size_t, headers *C.char, hn C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, ws, e := lookupWS(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	switch {
	case ws.acceptSet:
		return report(err, errState("websocket.accept was sent already"))
	case ws.closeSet:
		return report(err, errState("websocket.close was sent already: the WebSocket is closed"))
	case a.startSet:
		return report(err, errState("websocket.http.response.start was sent: the handshake was refused"))
	case a.gone:
		return report(err, errClientGone)
	}
	ws.acceptSet = true
	ws.subprotocol = string(cBytes(subprotocol, sn))
	ws.acceptHeaders = append(ws.acceptHeaders[:0], cBytes(headers, hn)...)
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_ws_send adds a message of the n bytes at p (text if text
// is 1: valid UTF-8, C checked) for the request's goroutine to write,
// after the handshake.  p is read during the call only.  *pending is 1
// when more than the high-water mark waits unwritten: the app's send()
// should then wait for a GOHTTP_ASGI_WRITTEN event (or WS_CLOSE).
//
//export gohttp_asgi_ws_send
func gohttp_asgi_ws_send(h C.uintptr_t, generation C.uint64_t, text C.int, p *C.char, n C.size_t, pending *C.int, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	*pending = 0
	c, a, ws, e := lookupWS(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	switch {
	case !ws.acceptSet:
		return report(err, errState("websocket.send before websocket.accept: accept the WebSocket first"))
	case ws.closeSet || ws.closing != 0 || a.gone:
		return report(err, errClientGone)
	}
	ws.out = append(ws.out, cBytes(p, n)...)
	ws.msgs = append(ws.msgs, wsOut{n: int(n), text: text != 0})
	if len(ws.out)+ws.inflight > wsHighWater {
		a.wantWritten = true
		*pending = 1
	}
	a.wake()
	return C.GOHTTP_OK
}

// gohttp_asgi_ws_close closes the WebSocket with code and the rn bytes at
// reason (read during the call only), after the messages sent before:
// the close handshake if it was accepted, else a 403.
//
//export gohttp_asgi_ws_close
func gohttp_asgi_ws_close(h C.uintptr_t, generation C.uint64_t, code C.int32_t, reason *C.char, rn C.size_t, err *C.gohttp_error) (status C.gohttp_status) {
	defer recoverTo(err, &status)
	c, a, ws, e := lookupWS(h, generation)
	if e != nil {
		return report(err, e)
	}
	defer c.mu.Unlock()
	switch {
	case ws.closeSet:
		return report(err, errState("websocket.close was sent already"))
	case a.startSet:
		return report(err, errState("websocket.http.response.start was sent: the handshake was refused, there is nothing to close"))
	case rn > wsMaxReasonLen:
		return report(err, errInvalid("the close reason is %d bytes long: 123 at most", int(rn)))
	case !validCloseCode(int(code)):
		return report(err, errInvalid("invalid close code %d: 1000, 1001, 1002, 1003, 1007 to 1014, or 3000 to 4999", int(code)))
	}
	ws.closeSet = true
	ws.closeCode = int(code)
	ws.closeReason = string(cBytes(reason, rn))
	a.wake()
	return C.GOHTTP_OK
}

// validCloseCode reports whether an app may close with code (RFC 6455
// 7.4: the codes a close frame may carry).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
