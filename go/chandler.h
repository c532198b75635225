/*
 * chandler.h — the Go/C boundary of C handler routes (go/chandler.go,
 * ext/capi.c): what bridge.h says for Python handlers, plus a way for a
 * small response to come back with the return of the dispatch call
 * instead of a call back into Go.
 *
 * Memory rules, beside bridge.h's:
 *
 *  7. The dispatch function of a C handler route gets a reply buffer of
 *     cap bytes and a gohttp_c_reply, both Go memory with no Go pointers,
 *     valid until it returns.  C may fill them with a whole response that
 *     has not started (replied = 1): packed headers (bridge.h) at
 *     buf[0:headers_len], the body at buf[body_off:body_off+body_len].
 *     Go sends it once the dispatch function has returned.  A response
 *     that started through gohttp_call_* leaves replied 0.
 */
#ifndef GOHTTP_CHANDLER_H
#define GOHTTP_CHANDLER_H

#include "bridge.h"

typedef struct {
    int32_t replied;      /* 1: send what the fields below say */
    int32_t code;         /* the status code, 100 to 999 */
    uint32_t headers_len;
    uint32_t body_off;
    uint32_t body_len;
} gohttp_c_reply;

/*
 * The function Go calls for a C handler route, set with
 * gohttp_set_c_dispatch; handler is the value given to
 * gohttp_server_handle_c.  It runs on the request's goroutine, without the
 * GIL; reply is zeroed before the call.
 */
typedef gohttp_outcome (*gohttp_c_dispatch_fn)(uintptr_t handler,
                                               const gohttp_request *req,
                                               const char *data,
                                               char *buf, size_t cap,
                                               gohttp_c_reply *reply);

#endif /* GOHTTP_CHANDLER_H */
