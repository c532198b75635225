/*
 * asgi.c — ASGI 3 requests on an event loop (asgiref's www.rst).
 *
 *   ASGILoop  one asyncio (or uvloop) loop as Go sees it: the Go loop
 *             handle, the descriptor Go writes to wake it, and drain(),
 *             which the loop runs when that descriptor is readable.
 *   ASGIApp   the value of an ASGI route: the app, its root_path, its loop
 *             and the lifespan state copied into each scope.
 *   ASGICall  one request: the receive and send callables the app gets.
 *   Ready     an awaitable that is done already: what send() returns when
 *             Go took the bytes at once, and receive() when a message
 *             waits, so that neither costs a future.
 *
 * Threads: everything here runs on the loop's thread with the GIL held;
 * Go's request goroutines never call into C for ASGI (bridge.h, rule 8).
 * A request crosses Go -> loop as events drain() takes in one call into
 * Go, and loop -> Go by the gohttp_asgi_* exports, none of which waits on
 * the network: a send() that finds too much unwritten, or a receive()
 * that needs the next chunk, returns a future that a WRITTEN or BODY event
 * resolves.  Python's own part (the loop's thread, the task of each
 * request, lifespan) is gohttp/asgi.py.
 *
 * Ownership: an ASGILoop owns its calls in flight ({call handle: ASGICall}),
 * each ASGICall its futures, its task and a message the app has not
 * received yet; an ASGICall holds its loop and its ASGIApp.  The event
 * array and byte buffer Go fills are the ASGILoop's PyMem_Raw memory.
 */
#include "module.h"

#include <string.h>
#include <structmember.h>   /* T_OBJECT, READONLY (3.10, 3.11) */

/* Events taken from Go per call, and the byte buffer's first size: a NEW
 * needs its request block, a BODY up to 64 KiB (go/asgicall.go). */
#define NEVENTS 64
#define BUF_START (256 * 1024)

/* ---- Ready: an awaitable that is done ---------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *value;   /* what await gives, once; NULL: None */
} ReadyObject;

/* New reference: a Ready giving value (a new reference it takes). */
static PyObject *
ready_new(gohttp_state *st, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    ReadyObject *self = PyObject_New(ReadyObject, st->ReadyType);
    if (self == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    self->value = value;
    return (PyObject *)self;
}

static void
ready_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    Py_XDECREF(((ReadyObject *)op)->value);
    PyObject_Free(op);
    Py_DECREF(tp);
}

static PyObject *
ready_await(PyObject *op)
{
    return Py_NewRef(op);
}

/* The value, which the first await takes: a new reference. */
static PyObject *
ready_take(PyObject *op)
{
    ReadyObject *self = (ReadyObject *)op;
    PyObject *value = self->value;
    self->value = NULL;
    return value != NULL ? value : Py_NewRef(Py_None);
}

static PySendResult
ready_send(PyObject *op, PyObject *arg, PyObject **result)
{
    *result = ready_take(op);
    return PYGEN_RETURN;
}

static PyObject *
ready_next(PyObject *op)
{
    PyObject *value = ready_take(op);
    if (value != Py_None) {
        /* a message is a dict, never a tuple: StopIteration(value) */
        PyErr_SetObject(PyExc_StopIteration, value);
    }
    Py_DECREF(value);
    return NULL;   /* no exception set: StopIteration() */
}

static PyObject *
ready_send_method(PyObject *op, PyObject *arg)
{
    return ready_next(op);
}

static PyMethodDef ready_methods[] = {
    {"send", ready_send_method, METH_O, NULL},
    {NULL},
};

static PyType_Slot ready_slots[] = {
    {Py_tp_dealloc, ready_dealloc},
    {Py_am_await, ready_await},
    {Py_am_send, ready_send},
    {Py_tp_iter, ready_await},
    {Py_tp_iternext, ready_next},
    {Py_tp_methods, ready_methods},
    {Py_tp_doc, (void *)PyDoc_STR(
        "What send() and receive() return when they are done at once: "
        "await it.")},
    {0, NULL},
};

PyType_Spec gohttp_ready_spec = {
    .name = "gohttp._gohttp.Ready",
    .basicsize = sizeof(ReadyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ready_slots,
};

/* ---- ASGILoop ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    gohttp_state *state;       /* borrowed: the type keeps the module alive */
    uintptr_t handle;          /* the Go loop; 0 once freed */
    int fd;                    /* Go's; poll it for reading */
    PyObject *loop;            /* the asyncio loop */
    PyObject *create_future;   /* loop.create_future */
    PyObject *start;           /* start(app, scope, call): runs the app's task */
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
    char started;              /* http.response.start was sent */
    char complete;             /* and the last http.response.body */
    char reading;              /* Go reads a chunk for us */
    char body_done;            /* the last chunk was received */
    char disconnected;         /* the client has gone */
    char finished;             /* the app is done; Go was told */
} ASGICallObject;

#define ASGICall_CAST(op) ((ASGICallObject *)(op))

static PyObject *
asgi_loop_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"loop", "start", "client_disconnected", NULL};
    PyObject *loop, *start, *disconnected;
    ASGILoopObject *self = NULL;
    gohttp_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:ASGILoop", kwlist,
                                     &loop, &start, &disconnected)) {
        return NULL;
    }
    if (gohttp_check_fork() < 0) {
        return NULL;
    }
    self = (ASGILoopObject *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->state = PyType_GetModuleState(tp);
    self->fd = -1;
    self->loop = Py_NewRef(loop);
    self->start = Py_NewRef(start);
    self->disconnected = Py_NewRef(disconnected);
    self->create_future = PyObject_GetAttrString(loop, "create_future");
    self->calls = PyDict_New();
    if (self->create_future == NULL || self->calls == NULL) {
        goto error;
    }
    self->events = PyMem_RawCalloc(NEVENTS, sizeof *self->events);
    self->buf = PyMem_RawMalloc(BUF_START);
    if (self->events == NULL || self->buf == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    self->capacity = BUF_START;
    gohttp_status status = gohttp_asgi_loop_new(&self->handle, &self->fd, &err);
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto error;
    }
    return (PyObject *)self;

error:
    Py_DECREF(self);
    return NULL;
}

static int
asgi_loop_traverse(PyObject *op, visitproc visit, void *arg)
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->loop);
    Py_VISIT(self->create_future);
    Py_VISIT(self->start);
    Py_VISIT(self->disconnected);
    Py_VISIT(self->calls);
    return 0;
}

static int
asgi_loop_clear(PyObject *op)
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->create_future);
    Py_CLEAR(self->start);
    Py_CLEAR(self->disconnected);
    Py_CLEAR(self->calls);
    return 0;
}

/* Free the Go loop, once: Go then refuses its routes' requests. */
static void
free_go_loop(ASGILoopObject *self)
{
    if (self->handle != 0) {
        gohttp_asgi_loop_free(self->handle);
        self->handle = 0;
        self->fd = -1;
    }
}

static void
asgi_loop_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    ASGILoopObject *self = ASGILoop_CAST(op);
    PyObject_GC_UnTrack(op);
    if (gohttp_check_fork() == 0) {
        free_go_loop(self);
    }
    else {
        PyErr_Clear();
    }
    (void)asgi_loop_clear(op);
    PyMem_RawFree(self->events);
    PyMem_RawFree(self->buf);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* 0 if Go's loop may be called, else -1 with an exception set. */
static int
check_loop(ASGILoopObject *self)
{
    if (gohttp_check_fork() < 0) {
        return -1;
    }
    if (self->handle == 0) {
        PyErr_SetString(gohttp_exc.ServerStateError,
                        "the ASGI loop was freed");
        return -1;
    }
    return 0;
}

/* ---- futures ------------------------------------------------------------ */

/* 1 if fut is done (cancelled too), 0 if not, -1 with an exception set. */
static int
future_done(PyObject *fut)
{
    PyObject *done = PyObject_CallMethod(fut, "done", NULL);
    int rc = done != NULL ? PyObject_IsTrue(done) : -1;
    Py_XDECREF(done);
    return rc;
}

/* Resolve *slot, a future or NULL, with value (borrowed), or with exc (an
 * exception instance, borrowed) if value is NULL, and clear the slot.  A
 * future the app cancelled is left alone.  0, or -1 with an exception. */
static int
resolve(PyObject **slot, PyObject *value, PyObject *exc)
{
    PyObject *fut = *slot, *result = NULL;
    int rc = 0;
    if (fut == NULL) {
        return 0;
    }
    *slot = NULL;   /* this owns fut's reference now */
    int done = future_done(fut);
    if (done == 0) {
        result = value != NULL
                 ? PyObject_CallMethod(fut, "set_result", "O", value)
                 : PyObject_CallMethod(fut, "set_exception", "O", exc);
        rc = result != NULL ? 0 : -1;
    }
    else if (done < 0) {
        rc = -1;
    }
    Py_XDECREF(result);
    Py_DECREF(fut);
    return rc;
}

/* ---- messages -------------------------------------------------------- */

/* New reference: {"type": "http.disconnect"}. */
static PyObject *
disconnect_message(gohttp_state *st)
{
    PyObject *msg = PyDict_New();
    if (msg != NULL
        && PyDict_SetItem(msg, st->asgi_key[GOHTTP_ASGI_K_TYPE],
                          st->asgi_value[GOHTTP_ASGI_V_DISCONNECT]) < 0) {
        Py_CLEAR(msg);
    }
    return msg;
}

/* New reference: an http.request message of body[:n]. */
static PyObject *
request_message(gohttp_state *st, const char *body, Py_ssize_t n, int more)
{
    PyObject *msg = PyDict_New();
    PyObject *bytes = PyBytes_FromStringAndSize(body, n);
    if (msg == NULL || bytes == NULL
        || PyDict_SetItem(msg, st->asgi_key[GOHTTP_ASGI_K_TYPE],
                          st->asgi_value[GOHTTP_ASGI_V_REQUEST]) < 0
        || PyDict_SetItem(msg, st->asgi_key[GOHTTP_ASGI_K_BODY], bytes) < 0
        || PyDict_SetItem(msg, st->asgi_key[GOHTTP_ASGI_K_MORE_BODY],
                          more ? Py_True : Py_False) < 0) {
        Py_CLEAR(msg);
    }
    Py_XDECREF(bytes);
    return msg;
}

/* ---- ASGICall ----------------------------------------------------------- */

/* Tell Go the app is done with outcome, once, and forget the call. */
static void
call_finish(ASGICallObject *self, gohttp_outcome outcome)
{
    if (self->finished) {
        return;
    }
    self->finished = 1;
    if (self->loop->calls != NULL && self->key != NULL
        && PyDict_DelItem(self->loop->calls, self->key) < 0) {
        PyErr_Clear();   /* not there: never registered */
    }
    gohttp_error err;
    if (gohttp_check_fork() == 0) {
        (void)gohttp_asgi_finish(self->handle, self->generation, outcome,
                                 &err);   /* EFINISHED: Go is done already */
    }
    else {
        PyErr_Clear();
    }
}

static int
asgi_call_traverse(PyObject *op, visitproc visit, void *arg)
{
    ASGICallObject *self = ASGICall_CAST(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->loop);
    Py_VISIT(self->app);
    Py_VISIT(self->task);
    Py_VISIT(self->receive_fut);
    Py_VISIT(self->send_fut);
    Py_VISIT(self->message);
    return 0;
}

static int
asgi_call_clear(PyObject *op)
{
    ASGICallObject *self = ASGICall_CAST(op);
    Py_CLEAR(self->task);
    Py_CLEAR(self->receive_fut);
    Py_CLEAR(self->send_fut);
    Py_CLEAR(self->message);
    return 0;
}

static void
asgi_call_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    ASGICallObject *self = ASGICall_CAST(op);
    PyObject_GC_UnTrack(op);
    if (!self->finished && self->loop != NULL) {
        call_finish(self, GOHTTP_FAILED);   /* never left Go waiting */
    }
    (void)asgi_call_clear(op);
    Py_CLEAR(self->key);
    Py_CLEAR(self->app);
    Py_CLEAR(self->loop);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* Raise for a failed gohttp_asgi_* call: a client gone away is the loop's
 * ClientDisconnected (an OSError), the rest as gohttp_raise says.  -1. */
static int
raise_call_error(ASGICallObject *self, gohttp_status status,
                 const gohttp_error *err)
{
    if (status == GOHTTP_EIO) {
        PyErr_SetString(self->loop->disconnected, err->message);
        return -1;
    }
    return gohttp_raise(status, err);
}

/* 0 if the app may still talk to the client, else -1 with why. */
static int
check_live(ASGICallObject *self)
{
    if (self->finished) {
        PyErr_SetString(gohttp_exc.RequestFinishedError,
                        "the request is finished: receive() and send() are "
                        "valid only until the ASGI app returns");
        return -1;
    }
    return gohttp_check_fork();
}

/* New reference: a future the app awaits, kept in *slot. */
static PyObject *
wait_in(ASGICallObject *self, PyObject **slot)
{
    PyObject *fut = PyObject_CallNoArgs(self->loop->create_future);
    if (fut != NULL) {
        Py_XSETREF(*slot, Py_NewRef(fut));
    }
    return fut;
}

/* 1 if *slot holds a future the app still awaits, 0 if not (dropping a
 * cancelled one), -1 with an exception set. */
static int
waiting(PyObject **slot)
{
    if (*slot == NULL) {
        return 0;
    }
    int done = future_done(*slot);
    if (done > 0) {
        Py_CLEAR(*slot);
    }
    return done < 0 ? -1 : !done;
}

PyDoc_STRVAR(receive_doc,
"receive()\n--\n\n"
"The next ASGI message of the request: http.request with a chunk of the\n"
"body (more_body True while more follow), then http.disconnect once the\n"
"client has gone or the response is complete.  Await it.");

static PyObject *
asgi_call_receive(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ASGICallObject *self = ASGICall_CAST(op);
    gohttp_state *st = self->state;
    gohttp_error err;

    if (self->message != NULL) {
        PyObject *msg = self->message;
        self->message = NULL;
        return ready_new(st, msg);
    }
    if (self->disconnected || self->complete || self->finished) {
        return ready_new(st, disconnect_message(st));
    }
    int w = waiting(&self->receive_fut);
    if (w != 0) {
        if (w > 0) {
            PyErr_SetString(gohttp_exc.StateError,
                            "receive() is waiting already: await one "
                            "receive() before the next");
        }
        return NULL;
    }
    if (self->body_done) {   /* nothing more until the client goes */
        return wait_in(self, &self->receive_fut);
    }
    if (self->content_length == 0) {   /* no body: no need to ask Go */
        self->body_done = 1;
        return ready_new(st, request_message(st, "", 0, 0));
    }
    if (!self->reading) {
        gohttp_status status = gohttp_asgi_read(self->handle,
                                                self->generation, &err);
        if (status != GOHTTP_OK) {
            raise_call_error(self, status, &err);
            return NULL;
        }
        self->reading = 1;
    }
    return wait_in(self, &self->receive_fut);
}

/* The packed list (bridge.h) of an http.response.start's headers, an
 * iterable of [name, value] bytes pairs, names in canonical form, into
 * *out (PyMem_Raw, for the caller to free) and *size.  0, or -1 with an
 * exception that says what is wrong. */
static int
pack_headers(PyObject *headers, char **out, size_t *size)
{
    PyObject *seq = NULL;
    char *buf = NULL;
    size_t pos = 0, need = 0;
    int rc = -1;

    *out = NULL;
    *size = 0;
    if (headers == NULL) {
        return 0;
    }
    seq = PySequence_Fast(headers, "http.response.start's headers must be "
                          "an iterable of [name, value] pairs");
    if (seq == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);  /* borrowed */
            PyObject *name, *value;
            if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
                name = PyTuple_GET_ITEM(pair, 0);
                value = PyTuple_GET_ITEM(pair, 1);
            }
            else if (PyList_Check(pair) && PyList_GET_SIZE(pair) == 2) {
                name = PyList_GET_ITEM(pair, 0);
                value = PyList_GET_ITEM(pair, 1);
            }
            else {
                PyErr_Format(PyExc_TypeError,
                             "each header must be a [name, value] pair of "
                             "bytes, not %.200R", pair);
                goto done;
            }
            if (!PyBytes_Check(name) || !PyBytes_Check(value)) {
                PyObject *bad = PyBytes_Check(name) ? value : name;
                PyErr_Format(PyExc_TypeError,
                             "header names and values must be bytes, not "
                             "%.200s (%.200R)%s", Py_TYPE(bad)->tp_name, bad,
                             PyUnicode_Check(bad)
                             ? ": encode it, as latin-1" : "");
                goto done;
            }
            const char *k = PyBytes_AS_STRING(name);
            const char *v = PyBytes_AS_STRING(value);
            Py_ssize_t klen = PyBytes_GET_SIZE(name);
            Py_ssize_t vlen = PyBytes_GET_SIZE(value);
            if (pass == 0) {
                int bad = gohttp_header_bytes_check(k, klen, v, vlen);
                if (bad) {
                    PyErr_Format(PyExc_ValueError,
                                 bad == 1 ? "invalid header name %R"
                                          : "invalid value for header %R: "
                                            "it holds CR, LF or NUL",
                                 name);
                    goto done;
                }
                gohttp_put_item(NULL, 0, &need, k, klen);
                gohttp_put_item(NULL, 0, &need, v, vlen);
                continue;
            }
            size_t at = pos + sizeof(uint32_t);
            gohttp_put_item(buf, need, &pos, k, klen);
            gohttp_canonicalize((unsigned char *)buf + at,
                                (const unsigned char *)k, (size_t)klen);
            gohttp_put_item(buf, need, &pos, v, vlen);
        }
        if (pass == 0) {
            buf = PyMem_RawMalloc(need ? need : 1);   /* Go reads it */
            if (buf == NULL) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    *out = buf;
    *size = pos;
    buf = NULL;
    rc = 0;
done:
    PyMem_RawFree(buf);
    Py_XDECREF(seq);
    return rc;
}

/* message[key], borrowed, or NULL (with an exception set if the lookup
 * failed, not if the key is missing). */
static PyObject *
get(PyObject *message, PyObject *key)
{
    return PyDict_GetItemWithError(message, key);
}

/* send() of http.response.start.  0, or -1 with an exception set. */
static int
send_start(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    char *packed = NULL;
    size_t size = 0;
    gohttp_error err;

    if (self->started) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.start was sent already: a response "
                        "starts once");
        return -1;
    }
    PyObject *status = get(message, st->asgi_key[GOHTTP_ASGI_K_STATUS]);
    if (status == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError,
                            "http.response.start needs a 'status'");
        }
        return -1;
    }
    if (!PyLong_Check(status) || PyBool_Check(status)) {
        PyErr_Format(PyExc_TypeError, "the status must be an int, not %.200s",
                     Py_TYPE(status)->tp_name);
        return -1;
    }
    long code = PyLong_AsLong(status);
    if (code == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (code < 200 || code > 999) {
        PyErr_Format(PyExc_ValueError,
                     "invalid status %ld: http.response.start takes a final "
                     "status, 200 to 999", code);
        return -1;
    }
    PyObject *headers = get(message, st->asgi_key[GOHTTP_ASGI_K_HEADERS]);
    if (headers == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (pack_headers(headers, &packed, &size) < 0) {
        return -1;
    }
    gohttp_status rc = gohttp_asgi_start(self->handle, self->generation,
                                         (int32_t)code, packed, size, &err);
    PyMem_RawFree(packed);
    if (rc != GOHTTP_OK) {
        return raise_call_error(self, rc, &err);
    }
    self->started = 1;
    return 0;
}

/* send() of http.response.body: 1 if it must wait for Go to write, 0 if
 * not, -1 with an exception set. */
static int
send_body(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    Py_buffer view = {0};
    int more = 0, pending = 0;
    gohttp_error err;

    if (!self->started) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.body before http.response.start: "
                        "send the start first");
        return -1;
    }
    if (self->complete) {
        PyErr_SetString(gohttp_exc.StateError,
                        "the response is complete: no http.response.body may "
                        "follow the one without more_body");
        return -1;
    }
    PyObject *body = get(message, st->asgi_key[GOHTTP_ASGI_K_BODY]);
    if (body == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (body != NULL && PyUnicode_Check(body)) {
        PyErr_SetString(PyExc_TypeError,
                        "the body must be bytes, not str: encode it");
        return -1;
    }
    if (body != NULL && PyObject_GetBuffer(body, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "the body must be bytes, not %.200s",
                     Py_TYPE(body)->tp_name);
        return -1;
    }
    PyObject *more_body = get(message, st->asgi_key[GOHTTP_ASGI_K_MORE_BODY]);
    if (more_body != NULL) {
        more = PyObject_IsTrue(more_body);
    }
    if (more < 0 || (more_body == NULL && PyErr_Occurred())) {
        PyBuffer_Release(&view);
        return -1;
    }
    gohttp_status rc = gohttp_asgi_body(self->handle, self->generation,
                                        view.buf, (size_t)view.len, more,
                                        &pending, &err);
    PyBuffer_Release(&view);
    if (rc != GOHTTP_OK) {
        return raise_call_error(self, rc, &err);
    }
    self->complete = !more;
    return pending;
}

PyDoc_STRVAR(send_doc,
"send(message)\n--\n\n"
"Send an ASGI message: http.response.start, then http.response.body\n"
"(more_body True while more follow).  Await it: it is done once Go has\n"
"taken the bytes.  Raises TypeError or ValueError for a message that is\n"
"not one, StateError for one out of order, ClientDisconnected (an\n"
"OSError) once the client has gone.");

static PyObject *
asgi_call_send(PyObject *op, PyObject *message)
{
    ASGICallObject *self = ASGICall_CAST(op);
    gohttp_state *st = self->state;
    int rc;

    if (check_live(self) < 0) {
        return NULL;
    }
    if (!PyDict_Check(message)) {
        PyErr_Format(PyExc_TypeError,
                     "send() takes an ASGI message, a dict, not %.200s",
                     Py_TYPE(message)->tp_name);
        return NULL;
    }
    int w = waiting(&self->send_fut);
    if (w != 0) {
        if (w > 0) {
            PyErr_SetString(gohttp_exc.StateError,
                            "send() is waiting already: await one send() "
                            "before the next");
        }
        return NULL;
    }
    PyObject *type = get(message, st->asgi_key[GOHTTP_ASGI_K_TYPE]);
    if (type == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError,
                            "an ASGI message needs a 'type'");
        }
        return NULL;
    }
    if (PyUnicode_Check(type)
        && PyUnicode_Compare(type, st->asgi_value[GOHTTP_ASGI_V_BODY]) == 0) {
        rc = send_body(self, message);
    }
    else if (PyUnicode_Check(type)
             && PyUnicode_Compare(type,
                                  st->asgi_value[GOHTTP_ASGI_V_START]) == 0) {
        rc = send_start(self, message);
    }
    else {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError,
                         "unexpected ASGI message type %.200R in an http "
                         "scope: send 'http.response.start', then "
                         "'http.response.body'", type);
        }
        rc = -1;
    }
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        return wait_in(self, &self->send_fut);
    }
    return Py_NewRef(st->asgi_done);
}

PyDoc_STRVAR(finish_doc,
"_finish(returned)\n--\n\n"
"Tell Go the app is done: it returned (True) or raised (False).  An app\n"
"that returned before completing its response failed all the same.\n"
"gohttp.asgi calls it; receive() and send() are invalid afterwards.");

static PyObject *
asgi_call_finish(PyObject *op, PyObject *returned)
{
    ASGICallObject *self = ASGICall_CAST(op);
    int ok = PyObject_IsTrue(returned);
    if (ok < 0) {
        return NULL;
    }
    call_finish(self, ok && self->complete ? GOHTTP_HANDLED : GOHTTP_FAILED);
    Py_CLEAR(self->receive_fut);
    Py_CLEAR(self->send_fut);
    Py_CLEAR(self->message);
    Py_CLEAR(self->task);   /* the task is running: the loop holds it */
    Py_RETURN_NONE;
}

static PyObject *
asgi_call_get_flag(PyObject *op, void *closure)
{
    ASGICallObject *self = ASGICall_CAST(op);
    const char *flag = (const char *)self + (Py_ssize_t)closure;
    return PyBool_FromLong(*flag);
}

static PyGetSetDef asgi_call_getset[] = {
    {"started", asgi_call_get_flag, NULL,
     PyDoc_STR("True once http.response.start was sent."),
     (void *)offsetof(ASGICallObject, started)},
    {"complete", asgi_call_get_flag, NULL,
     PyDoc_STR("True once the last http.response.body was sent."),
     (void *)offsetof(ASGICallObject, complete)},
    {"disconnected", asgi_call_get_flag, NULL,
     PyDoc_STR("True once the client has gone away."),
     (void *)offsetof(ASGICallObject, disconnected)},
    {NULL},
};

static PyMemberDef asgi_call_members[] = {
    {"task", T_OBJECT, offsetof(ASGICallObject, task), 0,
     PyDoc_STR("The app's task, for a shutdown to cancel.")},
    {"app", T_OBJECT, offsetof(ASGICallObject, app), READONLY,
     PyDoc_STR("The ASGIApp the request was routed to.")},
    {NULL},
};

static PyMethodDef asgi_call_methods[] = {
    {"receive", asgi_call_receive, METH_NOARGS, receive_doc},
    {"send", asgi_call_send, METH_O, send_doc},
    {"_finish", asgi_call_finish, METH_O, finish_doc},
    {NULL},
};

static PyType_Slot asgi_call_slots[] = {
    {Py_tp_dealloc, asgi_call_dealloc},
    {Py_tp_traverse, asgi_call_traverse},
    {Py_tp_clear, asgi_call_clear},
    {Py_tp_methods, asgi_call_methods},
    {Py_tp_members, asgi_call_members},
    {Py_tp_getset, asgi_call_getset},
    {Py_tp_doc, (void *)PyDoc_STR(
        "One ASGI request: its receive and send callables.  Made by\n"
        "ASGILoop.drain().")},
    {0, NULL},
};

PyType_Spec gohttp_asgi_call_spec = {
    .name = "gohttp._gohttp.ASGICall",
    .basicsize = sizeof(ASGICallObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = asgi_call_slots,
};

/* ---- drain: the events of a batch -------------------------------------- */

/* The call an event names, borrowed, or NULL if it has finished (the
 * event is stale) or an error is set. */
static ASGICallObject *
call_of(ASGILoopObject *self, const gohttp_asgi_event *ev)
{
    PyObject *key = PyLong_FromSize_t((size_t)ev->req.call);
    if (key == NULL) {
        return NULL;
    }
    PyObject *call = PyDict_GetItemWithError(self->calls, key);  /* borrowed */
    Py_DECREF(key);
    if (call == NULL
        || ASGICall_CAST(call)->generation != ev->req.generation) {
        return NULL;
    }
    return ASGICall_CAST(call);
}

/* A NEW event: make the call and start the app's task.  0, or -1 with an
 * exception set (the call is finished then: Go answers 500). */
static int
on_new(ASGILoopObject *self, const gohttp_asgi_event *ev, const char *data)
{
    gohttp_state *st = self->state;
    gohttp_route *route = (gohttp_route *)ev->app;
    ASGIAppObject *app = ASGIApp_CAST(route->handler);
    PyObject *scope = NULL, *result = NULL;
    int rc = -1;

    ASGICallObject *call = PyObject_GC_New(ASGICallObject, st->ASGICallType);
    if (call == NULL) {
        gohttp_error err;
        (void)gohttp_asgi_finish(ev->req.call, ev->req.generation,
                                 GOHTTP_FAILED, &err);
        return -1;
    }
    memset((char *)call + sizeof(PyObject), 0,
           sizeof *call - sizeof(PyObject));
    call->state = st;
    call->loop = (ASGILoopObject *)Py_NewRef(self);
    call->app = Py_NewRef(app);
    call->handle = ev->req.call;
    call->generation = ev->req.generation;
    call->content_length = ev->req.content_length;
    PyObject_GC_Track(call);
    call->key = PyLong_FromSize_t((size_t)ev->req.call);
    if (call->key == NULL
        || PyDict_SetItem(self->calls, call->key, (PyObject *)call) < 0) {
        goto done;
    }
    scope = gohttp_asgi_scope(st, &ev->req, data, app->root_path,
                              app->path_prefix,
                              PyDict_Check(app->state) ? app->state : NULL);
    if (scope == NULL) {
        goto done;
    }
    result = PyObject_CallFunctionObjArgs(self->start, app->app, scope,
                                          (PyObject *)call, NULL);
    rc = result != NULL ? 0 : -1;
done:
    if (rc < 0) {
        PyObject *exc = PyErr_GetRaisedException();
        call_finish(call, GOHTTP_FAILED);
        PyErr_SetRaisedException(exc);
    }
    Py_XDECREF(result);
    Py_XDECREF(scope);
    Py_DECREF(call);
    return rc;
}

/* One event of a batch.  0, or -1 with an exception set. */
static int
on_event(ASGILoopObject *self, const gohttp_asgi_event *ev, const char *data)
{
    gohttp_state *st = self->state;
    PyObject *msg = NULL, *exc = NULL;
    int rc = 0;

    if (ev->kind == GOHTTP_ASGI_NEW) {
        return on_new(self, ev, data);
    }
    ASGICallObject *call = call_of(self, ev);
    if (call == NULL) {
        return PyErr_Occurred() ? -1 : 0;   /* stale: the app is done */
    }
    Py_INCREF(call);
    switch (ev->kind) {
    case GOHTTP_ASGI_BODY:
        call->reading = 0;
        call->body_done = !ev->more_body;
        msg = request_message(st, data, (Py_ssize_t)ev->len, ev->more_body);
        if (msg == NULL) {
            rc = -1;
        }
        else if (waiting(&call->receive_fut) > 0) {
            rc = resolve(&call->receive_fut, msg, NULL);
        }
        else {   /* the app gave up waiting: the next receive() gets it */
            Py_XSETREF(call->message, Py_NewRef(msg));
        }
        break;
    case GOHTTP_ASGI_DISCONNECT:
        call->disconnected = 1;
        call->reading = 0;
        msg = disconnect_message(st);
        exc = PyObject_CallFunction(self->disconnected, "s",
                                    "the client has gone away: the "
                                    "connection is closed");
        if (msg == NULL || exc == NULL
            || resolve(&call->receive_fut, msg, NULL) < 0
            || resolve(&call->send_fut, NULL, exc) < 0) {
            rc = -1;
        }
        break;
    case GOHTTP_ASGI_WRITTEN:
        rc = resolve(&call->send_fut, Py_None, NULL);
        break;
    }
    Py_XDECREF(msg);
    Py_XDECREF(exc);
    Py_DECREF(call);
    return rc;
}

PyDoc_STRVAR(drain_doc,
"drain()\n--\n\n"
"Take every event Go has queued for this loop and act on it: start the\n"
"app of each new request, give receive() its chunks, send() its go-ahead,\n"
"both the news of a disconnect.  The loop calls it when fd is readable.\n"
"Returns True once close() was called.  An event that fails is logged to\n"
"the gohttp logger; the others go on.");

static PyObject *
asgi_loop_drain(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    size_t taken, used, need;
    int more, closed = 0;
    gohttp_error err;

    if (check_loop(self) < 0) {
        return NULL;
    }
    Py_INCREF(self);   /* an app may drop the last other reference */
    do {
        gohttp_status status = gohttp_asgi_take(
            self->handle, self->events, NEVENTS, self->buf, self->capacity,
            &taken, &used, &need, &more, &closed, &err);
        if (status != GOHTTP_OK) {
            gohttp_raise(status, &err);
            Py_DECREF(self);
            return NULL;
        }
        if (need > self->capacity) {   /* one request block is that large */
            char *grown = PyMem_RawRealloc(self->buf, need);
            if (grown == NULL) {
                Py_DECREF(self);
                return PyErr_NoMemory();
            }
            self->buf = grown;
            self->capacity = need;
        }
        for (size_t i = 0; i < taken; i++) {
            const gohttp_asgi_event *ev = &self->events[i];
            if (on_event(self, ev, self->buf + ev->off) < 0) {
                gohttp_log_exception(self->state, "ASGI event %d failed",
                                     (int)ev->kind);
            }
        }
    } while (more && self->handle != 0);
    Py_DECREF(self);
    return PyBool_FromLong(closed);
}

PyDoc_STRVAR(close_doc,
"close()\n--\n\n"
"Refuse new requests (they get a 503) from now on.  Requests in flight\n"
"go on.");

static PyObject *
asgi_loop_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    if (self->handle != 0 && gohttp_check_fork() == 0) {
        gohttp_asgi_loop_close(self->handle);
    }
    PyErr_Clear();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(free_doc,
"free()\n--\n\n"
"close(), then release Go's loop and its descriptor.  Call it once the\n"
"loop no longer polls fd.");

static PyObject *
asgi_loop_free(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    if (gohttp_check_fork() < 0) {
        return NULL;
    }
    free_go_loop(self);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(calls_doc,
"calls()\n--\n\n"
"The ASGICalls of the requests in flight, in a new list.");

static PyObject *
asgi_loop_calls(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return PyDict_Values(ASGILoop_CAST(op)->calls);
}

static PyObject *
asgi_loop_get_fd(PyObject *op, void *closure)
{
    return PyLong_FromLong(ASGILoop_CAST(op)->fd);
}

static PyGetSetDef asgi_loop_getset[] = {
    {"fd", asgi_loop_get_fd, NULL,
     PyDoc_STR("The descriptor to poll for reading (-1 once freed)."), NULL},
    {NULL},
};

static PyMethodDef asgi_loop_methods[] = {
    {"drain", asgi_loop_drain, METH_NOARGS, drain_doc},
    {"close", asgi_loop_close, METH_NOARGS, close_doc},
    {"free", asgi_loop_free, METH_NOARGS, free_doc},
    {"calls", asgi_loop_calls, METH_NOARGS, calls_doc},
    {NULL},
};

static PyMemberDef asgi_loop_members[] = {
    {"loop", T_OBJECT, offsetof(ASGILoopObject, loop), READONLY,
     PyDoc_STR("The asyncio loop.")},
    {NULL},
};

PyDoc_STRVAR(asgi_loop_doc,
"ASGILoop(loop, start, client_disconnected)\n--\n\n"
"An event loop as Go sees it.  loop is the asyncio loop that polls fd\n"
"and calls drain(); start(app, scope, call) runs each new request's app\n"
"in a task; client_disconnected is the exception class send() raises\n"
"once the client has gone.  Made by gohttp.asgi.");

static PyType_Slot asgi_loop_slots[] = {
    {Py_tp_new, asgi_loop_new},
    {Py_tp_dealloc, asgi_loop_dealloc},
    {Py_tp_traverse, asgi_loop_traverse},
    {Py_tp_clear, asgi_loop_clear},
    {Py_tp_methods, asgi_loop_methods},
    {Py_tp_members, asgi_loop_members},
    {Py_tp_getset, asgi_loop_getset},
    {Py_tp_doc, (void *)asgi_loop_doc},
    {0, NULL},
};

PyType_Spec gohttp_asgi_loop_spec = {
    .name = "gohttp._gohttp.ASGILoop",
    .basicsize = sizeof(ASGILoopObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = asgi_loop_slots,
};

/* ---- ASGIApp ------------------------------------------------------------ */

static PyObject *
asgi_app_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"app", "root_path", "loop", "path_prefix", NULL};
    PyObject *app, *root_path, *loop, *path_prefix = NULL;
    gohttp_state *st = PyType_GetModuleState(tp);

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OUO!|U:ASGIApp", kwlist,
                                     &app, &root_path, st->ASGILoopType,
                                     &loop, &path_prefix)) {
        return NULL;
    }
    if (!PyCallable_Check(app)) {
        PyErr_Format(PyExc_TypeError,
                     "an ASGI app must be callable as "
                     "await app(scope, receive, send), not %.200s",
                     Py_TYPE(app)->tp_name);
        return NULL;
    }
    ASGIAppObject *self = (ASGIAppObject *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->app = Py_NewRef(app);
    self->root_path = Py_NewRef(root_path);
    self->path_prefix = path_prefix != NULL && PyUnicode_GET_LENGTH(path_prefix)
                        ? Py_NewRef(path_prefix) : NULL;
    self->loop = Py_NewRef(loop);
    self->state = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static int
asgi_app_traverse(PyObject *op, visitproc visit, void *arg)
{
    ASGIAppObject *self = ASGIApp_CAST(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->app);
    Py_VISIT(self->root_path);
    Py_VISIT(self->path_prefix);
    Py_VISIT(self->loop);
    Py_VISIT(self->state);
    return 0;
}

static int
asgi_app_clear(PyObject *op)
{
    ASGIAppObject *self = ASGIApp_CAST(op);
    Py_CLEAR(self->app);
    Py_CLEAR(self->root_path);
    Py_CLEAR(self->path_prefix);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->state);
    return 0;
}

static void
asgi_app_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)asgi_app_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMemberDef asgi_app_members[] = {
    {"app", T_OBJECT, offsetof(ASGIAppObject, app), READONLY,
     PyDoc_STR("The ASGI application.")},
    {"root_path", T_OBJECT, offsetof(ASGIAppObject, root_path), READONLY,
     PyDoc_STR("scope['root_path'] of its requests.")},
    {"loop", T_OBJECT, offsetof(ASGIAppObject, loop), READONLY,
     PyDoc_STR("The ASGILoop it runs on.")},
    {"state", T_OBJECT, offsetof(ASGIAppObject, state), 0,
     PyDoc_STR("A dict the lifespan filled, copied into each scope's\n"
               "'state'; None: no 'state' key.")},
    {NULL},
};

static PyType_Slot asgi_app_slots[] = {
    {Py_tp_new, asgi_app_new},
    {Py_tp_dealloc, asgi_app_dealloc},
    {Py_tp_traverse, asgi_app_traverse},
    {Py_tp_clear, asgi_app_clear},
    {Py_tp_members, asgi_app_members},
    {Py_tp_doc, (void *)PyDoc_STR(
        "ASGIApp(app, root_path, loop, path_prefix='')\n--\n\n"
        "The value of an ASGI route (Server.handle_asgi): app, served on\n"
        "loop, an ASGILoop, mounted at root_path.  path_prefix (a root\n"
        "path a proxy took off) goes before each scope's path.  Made by\n"
        "gohttp.asgi.")},
    {0, NULL},
};

PyType_Spec gohttp_asgi_app_spec = {
    .name = "gohttp._gohttp.ASGIApp",
    .basicsize = sizeof(ASGIAppObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = asgi_app_slots,
};

/* ---- for the module and server.c ----------------------------------------- */

int
gohttp_asgi_init_state(gohttp_state *st)
{
    st->asgi_done = PyObject_New(PyObject, st->ReadyType);
    if (st->asgi_done == NULL) {
        return -1;
    }
    ((ReadyObject *)st->asgi_done)->value = NULL;   /* None, every time */
    return gohttp_scope_init_state(st);
}

uintptr_t
gohttp_asgi_app_loop(gohttp_state *st, PyObject *app)
{
    if (!PyObject_TypeCheck(app, st->ASGIAppType)) {
        PyErr_Format(PyExc_TypeError,
                     "handle_asgi() takes an ASGIApp, not %.200s",
                     Py_TYPE(app)->tp_name);
        return 0;
    }
    ASGILoopObject *loop = ASGILoop_CAST(ASGIApp_CAST(app)->loop);
    if (check_loop(loop) < 0) {
        return 0;
    }
    return loop->handle;
}
