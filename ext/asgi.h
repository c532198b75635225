/*
 * asgi.h — what the two files of the ASGI objects share (asgi.c: the
 * loop, its drain, the app and Ready; asgicall.c: one request's receive
 * and send).  Everything here runs on the event loop's thread, with the
 * GIL held (asgi.c says why).
 */
#ifndef GOHTTP_ASGI_H
#define GOHTTP_ASGI_H

#include "module.h"

typedef struct {
    PyObject_HEAD
    gohttp_state *state;       /* borrowed: the type keeps the module alive */
    uintptr_t handle;          /* the Go loop; 0 once freed */
    int fd;                    /* Go's; poll it for reading */
    PyObject *loop;            /* the asyncio loop */
    PyObject *create_future;   /* loop.create_future */
    PyObject *start;           /* start(coro): the task that runs coro */
    PyObject *run;             /* run(app, scope, call): a request's coro */
    PyObject *disconnected;    /* the exception class of a send() too late */
    PyObject *calls;           /* {call handle: ASGICall} of requests in flight */
    gohttp_asgi_event *events; /* PyMem_Raw, NEVENTS of them */
    char *buf;                 /* PyMem_Raw, capacity bytes */
    size_t capacity;
} ASGILoopObject;

#define ASGILoop_CAST(op) ((ASGILoopObject *)(op))

typedef struct {
    PyObject_HEAD
    PyObject *app;         /* the ASGI application */
    PyObject *root_path;   /* str: scope["root_path"] */
    PyObject *path_prefix; /* str put before each path: a proxy's root path */
    PyObject *loop;        /* ASGILoop */
    PyObject *state;       /* dict copied into each scope, or None */
    char websocket;        /* route_websocket's: WebSocket handshakes only,
                              whose scopes have "path_params" */
} ASGIAppObject;

#define ASGIApp_CAST(op) ((ASGIAppObject *)(op))

typedef struct {
    PyObject_HEAD
    gohttp_state *state;       /* borrowed: the type keeps the module alive */
    ASGILoopObject *loop;      /* strong */
    PyObject *app;             /* strong: the ASGIApp */
    PyObject *key;             /* its key in loop->calls */
    PyObject *task;            /* the app's task, set by start, or NULL */
    PyObject *receive_fut;     /* what a waiting receive() returned, or NULL */
    PyObject *send_fut;        /* what a waiting send() returned, or NULL */
    PyObject *message;         /* a message receive() has yet to give */
    PyObject *trailers;        /* a list of the trailers of messages with
                                  more_trailers, or NULL */
    uintptr_t handle;          /* the Go call and its generation */
    uint64_t generation;
    int64_t content_length;    /* -1: unknown (chunked) */
    char *start_headers;       /* PyMem_Raw: http.response.start's packed
                                  headers, held until the first body */
    size_t start_size;         /* their size */
    int32_t start_status;      /* its status; 0 once given to Go */
    char started;              /* http.response.start was sent */
    char complete;             /* and the last http.response.body */
    char reading;              /* Go reads a chunk for us */
    char body_done;            /* the last chunk was received */
    char watching;             /* Go watches for a disconnect: a receive()
                                  waited after the body */
    char disconnected;         /* the client has gone; a WebSocket: it is
                                  closed (Go's WS_CLOSE) */
    char finished;             /* the app is done; Go was told */

    /* A WebSocket's (asgiws.c); started and complete are its denial
     * response's (websocket.http.response.*). */
    char websocket;            /* a websocket scope */
    char ws_connected;         /* receive() gave websocket.connect */
    char ws_accepted;          /* websocket.accept was sent */
    char ws_closed;            /* websocket.close was sent */
    int32_t ws_code;           /* the close code, once disconnected */
    PyObject *ws_reason;       /* and its reason (str), or NULL */
    PyObject *ws_senders;      /* list of the futures of send()s waiting
                                  for Go to write, or NULL */
    char trailers_due;         /* http.response.start announced trailers */
    char body_sent;            /* the last body of such a response went */
    char holding;              /* send() holds the last body (asgicall.c) */
    PyObject *held_body;       /* bytes, or NULL for none */
} ASGICallObject;

#define ASGICall_CAST(op) ((ASGICallObject *)(op))

/* asgi.c: new reference, a Ready whose await gives value (a new
 * reference it takes; NULL: an error is set, returns NULL). */
PyObject *gohttp_ready_new(gohttp_state *st, PyObject *value);

/* asgicall.c.  call_new: a new reference to the call of ev, a NEW event
 * for app (an ASGIApp, borrowed), registered in loop->calls; NULL with an
 * exception set.  call_finish: tell Go, once, that the app is done with
 * outcome, and forget the call.  call_event: act on a BODY, DISCONNECT
 * or WRITTEN event of call (data: ev's bytes); 0, or -1 with an
 * exception set. */
ASGICallObject *gohttp_asgi_call_new(ASGILoopObject *loop, PyObject *app,
                                     const gohttp_asgi_event *ev);
void gohttp_asgi_call_finish(ASGICallObject *call, gohttp_outcome outcome);
int gohttp_asgi_call_event(ASGICallObject *call, const gohttp_asgi_event *ev,
                           const char *data);

/* asgicall.c: release a loan Go gave back (a GOHTTP_ASGI_RELEASE event's,
 * bridge.h rule 8g).  With the GIL, on the loop's thread. */
void gohttp_asgi_release_loan(uintptr_t loan);

/* asgicall.c, for asgiws.c: the parts of an HTTP request's receive and
 * send a WebSocket shares.
 *   resolve: set *slot's future's result to value (borrowed) or, value
 *     NULL, its exception to exc (borrowed), and clear the slot.
 *   waiting: 1 if *slot holds a future the app still awaits, 0 if not.
 *   wait_in: a new future the app awaits, kept in *slot (new reference).
 *   check_live: 0 if the app may still send.
 *   raise: raise for a failed gohttp_asgi_* call; returns -1.
 *   send_start, send_body: an http.response.start or .body message (a
 *     WebSocket's denial response); send_body returns 1 if the app must
 *     wait for Go to write.
 *   pack_headers: a message's headers as bridge.h's packed list, in
 *     *out (PyMem_Raw, the caller frees it).
 * All return -1 (NULL) with an exception set on failure. */
int gohttp_asgi_resolve(PyObject **slot, PyObject *value, PyObject *exc);
int gohttp_asgi_waiting(PyObject **slot);
PyObject *gohttp_asgi_wait_in(ASGICallObject *self, PyObject **slot);
int gohttp_asgi_check_live(ASGICallObject *self);
int gohttp_asgi_raise(ASGICallObject *self, gohttp_status status,
                      const gohttp_error *err);
int gohttp_asgi_send_start(ASGICallObject *self, PyObject *message);
int gohttp_asgi_send_body(ASGICallObject *self, PyObject *message);
int gohttp_asgi_pack_headers(PyObject *headers, char **out, size_t *size);

/* message[key], borrowed, or NULL with an exception set: the lookup's,
 * or a ValueError saying missing (what the message needs) if key is not
 * there.  Inline: send() asks it on every request. */
static inline PyObject *
gohttp_asgi_require(PyObject *message, PyObject *key, const char *missing)
{
    PyObject *v = PyDict_GetItemWithError(message, key);
    if (v == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, missing);
    }
    return v;
}

/* A message Go posted for the app (msg, borrowed): to the receive() that
 * waits, else kept in call->message for the next receive().  1 if given,
 * 0 if kept, -1 with an exception set.  Inline, as gohttp_asgi_require. */
static inline int
gohttp_asgi_deliver(ASGICallObject *call, PyObject *msg)
{
    int w = gohttp_asgi_waiting(&call->receive_fut);
    if (w > 0) {
        return gohttp_asgi_resolve(&call->receive_fut, msg, NULL) < 0 ? -1 : 1;
    }
    if (w == 0) {
        Py_XSETREF(call->message, Py_NewRef(msg));
    }
    return w;
}

/* 0 if no future of callable's ("receive" or "send") waits in *slot, so
 * the app may call it; else -1 with an exception set: StateError if one
 * still waits (an app awaits one call before the next).  Inline, as
 * gohttp_asgi_require. */
static inline int
gohttp_asgi_idle(PyObject **slot, const char *callable)
{
    int w = gohttp_asgi_waiting(slot);
    if (w > 0) {
        PyErr_Format(gohttp_exc.StateError,
                     "%s() is waiting already: await one %s() before the "
                     "next", callable, callable);
    }
    return w == 0 ? 0 : -1;
}

/* asgiws.c: a WebSocket's receive() and send(message) (new references,
 * what the app awaits; message is a dict, borrowed, and the call live:
 * asgicall.c's send() checks both), and what its events do (as
 * call_event). */
PyObject *gohttp_asgiws_receive(ASGICallObject *call);
PyObject *gohttp_asgiws_send(ASGICallObject *call, PyObject *message);
int gohttp_asgiws_event(ASGICallObject *call, const gohttp_asgi_event *ev,
                         const char *data);

#endif /* GOHTTP_ASGI_H */
