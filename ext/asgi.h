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
    char disconnected;         /* the client has gone */
    char finished;             /* the app is done; Go was told */
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

#endif /* GOHTTP_ASGI_H */
