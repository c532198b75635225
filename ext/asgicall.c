/*
 * asgicall.c — gohttp._gohttp.ASGICall: one ASGI request, the receive and
 * send callables its app gets (asgiref's www.rst), and what the events Go
 * posts for it do: a chunk for a waiting receive(), the go-ahead for a
 * waiting send(), the news of a disconnect for both.
 *
 * receive() returns a Ready (asgi.c) when a message waits, else a future
 * of the loop's; send() returns the shared Ready of None when Go took the
 * bytes at once, a future when more than Go's high-water mark waits
 * unwritten.  Every message is checked here, with an error that says what
 * to do.  Ownership: a call holds its loop and its ASGIApp, its futures,
 * its task and a message not yet received; the loop's calls dict holds
 * the call until it finishes.
 */
#include "asgi.h"

#include <errno.h>
#include <string.h>
#include <structmember.h>   /* T_OBJECT, READONLY (3.10, 3.11) */

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
int
gohttp_asgi_resolve(PyObject **slot, PyObject *value, PyObject *exc)
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

/* The largest last body send() holds (see hold_last_body): Go's high-water
 * mark, below which a send() never waits. */
#define HOLD_MAX (64 * 1024)

/* The smallest body send() lends Go rather than gives it a copy of
 * (bridge.h, rule 8g): above Go's high-water mark, where a send() that
 * is not the last waits for Go's WRITTEN event anyway, so that the event
 * that gives the loan back rides in the same wake.  Below it a copy
 * costs less than that event would, and Go reuses its buffer. */
#define LOAN_MIN (64 * 1024)

/* Release a loan Go gave back (a GOHTTP_ASGI_RELEASE event, asgi.c): the
 * buffer send_body lent.  The loop's thread, with the GIL. */
void
gohttp_asgi_release_loan(uintptr_t loan)
{
    Py_buffer *view = (Py_buffer *)loan;
    PyBuffer_Release(view);
    PyMem_RawFree(view);
}

/* A loan of the body (a read-only buffer over LOAN_MIN bytes): a buffer
 * of its own, PyMem_Raw, whose address names it to Go, or NULL with
 * *failed 0 if body is not one to lend, 1 with an exception set if it
 * could not be made. */
static Py_buffer *
lend_body(PyObject *body, const Py_buffer *view, int *failed)
{
    *failed = 0;
    if (view->len <= LOAN_MIN || !view->readonly) {
        return NULL;   /* a bytearray may change under Go: copied */
    }
    Py_buffer *loan = PyMem_RawMalloc(sizeof *loan);
    if (loan == NULL) {
        PyErr_NoMemory();
    }
    else if (PyObject_GetBuffer(body, loan, PyBUF_SIMPLE) < 0) {
        PyMem_RawFree(loan);
        loan = NULL;
    }
    else if (loan->buf != view->buf || loan->len != view->len) {
        gohttp_asgi_release_loan((uintptr_t)loan);   /* not the same bytes */
        return NULL;
    }
    *failed = loan == NULL;
    return loan;
}

/* The start send() held went to Go with a body (Go has it, or refused it
 * for good): drop ours.  start_headers is PyMem_Raw, the call's. */
static inline void
start_given(ASGICallObject *self)
{
    self->start_status = 0;
    PyMem_RawFree(self->start_headers);
    self->start_headers = NULL;
}

/* Give Go the last body send() held, and the start held with it; with
 * end, the end of the app (outcome) in the same call.  Takes the call's
 * reference to held_body and drops it once Go has copied the bytes
 * (bridge.h rule 8d). */
static gohttp_status
give_held(ASGICallObject *self, int end, gohttp_outcome outcome,
          gohttp_error *err)
{
    PyObject *body = self->held_body;   /* this owns it now */
    char *p = body != NULL ? PyBytes_AS_STRING(body) : NULL;
    size_t n = body != NULL ? (size_t)PyBytes_GET_SIZE(body) : 0;
    int pending;
    gohttp_status rc;

    self->held_body = NULL;
    self->holding = 0;
    if (end) {
        rc = gohttp_asgi_end(self->handle, self->generation,
                             self->start_status, self->start_headers,
                             self->start_size, p, n, outcome, err);
    }
    else {
        rc = gohttp_asgi_body(self->handle, self->generation,
                              self->start_status, self->start_headers,
                              self->start_size, p, n, 0, 0, &pending, err);
    }
    start_given(self);
    Py_XDECREF(body);
    return rc;
}

void
gohttp_asgi_call_finish(ASGICallObject *self, gohttp_outcome outcome)
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
        /* EFINISHED: Go is done already */
        if (self->holding) {
            (void)give_held(self, 1, outcome, &err);
        }
        else {
            (void)gohttp_asgi_finish(self->handle, self->generation, outcome,
                                     &err);
        }
    }
    else {
        PyErr_Clear();
    }
}

/* The app's task waits for something (ASGIGuard): give Go the last body
 * send() holds, if any, so the client never waits for the app. */
static void
flush_held(ASGICallObject *self)
{
    gohttp_error err;
    if (!self->holding || self->finished) {
        return;
    }
    if (gohttp_check_fork() < 0) {
        PyErr_Clear();
        return;
    }
    /* A client gone away: Go posts the news (DISCONNECT) itself. */
    (void)give_held(self, 0, GOHTTP_HANDLED, &err);
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
    Py_VISIT(self->ws_reason);
    Py_VISIT(self->ws_senders);
    Py_VISIT(self->trailers);
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
    Py_CLEAR(self->ws_reason);
    Py_CLEAR(self->ws_senders);
    Py_CLEAR(self->trailers);
    Py_CLEAR(self->held_body);
    return 0;
}

static void
asgi_call_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    ASGICallObject *self = ASGICall_CAST(op);
    PyObject_GC_UnTrack(op);
    if (!self->finished && self->loop != NULL) {
        gohttp_asgi_call_finish(self, GOHTTP_FAILED);   /* never left Go waiting */
    }
    (void)asgi_call_clear(op);
    PyMem_RawFree(self->start_headers);
    Py_CLEAR(self->key);
    Py_CLEAR(self->app);
    Py_CLEAR(self->loop);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* Raise for a failed gohttp_asgi_* call: a client gone away is the loop's
 * ClientDisconnected (an OSError), the rest as gohttp_raise says (a file
 * pathsend cannot open: its OSError, FileNotFoundError...).  -1. */
int
gohttp_asgi_raise(ASGICallObject *self, gohttp_status status,
                 const gohttp_error *err)
{
    if (status == GOHTTP_EIO && err->sys_errno == EPIPE) {
        PyErr_SetString(self->loop->disconnected, err->message);
        return -1;
    }
    return gohttp_raise(status, err);
}

/* 0 if the app may still talk to the client, else -1 with why. */
int
gohttp_asgi_check_live(ASGICallObject *self)
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
PyObject *
gohttp_asgi_wait_in(ASGICallObject *self, PyObject **slot)
{
    PyObject *fut = PyObject_CallNoArgs(self->loop->create_future);
    if (fut != NULL) {
        Py_XSETREF(*slot, Py_NewRef(fut));
    }
    return fut;
}

/* 1 if *slot holds a future the app still awaits, 0 if not (dropping a
 * cancelled one), -1 with an exception set. */
int
gohttp_asgi_waiting(PyObject **slot)
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

    if (self->websocket) {
        return gohttp_asgiws_receive(self);
    }
    if (self->message != NULL) {
        PyObject *msg = self->message;
        self->message = NULL;
        return gohttp_ready_new(st, msg);
    }
    if (self->disconnected || self->complete || self->finished) {
        return gohttp_ready_new(st, disconnect_message(st));
    }
    if (gohttp_asgi_idle(&self->receive_fut, "receive") < 0) {
        return NULL;
    }
    if (self->body_done) {   /* nothing more until the client goes */
        if (!self->watching) {   /* Go watches for it from now on */
            gohttp_status status = gohttp_asgi_watch(self->handle,
                                                     self->generation, &err);
            if (status != GOHTTP_OK) {
                gohttp_asgi_raise(self, status, &err);
                return NULL;
            }
            self->watching = 1;
        }
        return gohttp_asgi_wait_in(self, &self->receive_fut);
    }
    if (self->content_length == 0) {   /* no body: no need to ask Go */
        self->body_done = 1;
        return gohttp_ready_new(st, request_message(st, "", 0, 0));
    }
    if (!self->reading) {
        gohttp_status status = gohttp_asgi_read(self->handle,
                                                self->generation, &err);
        if (status != GOHTTP_OK) {
            gohttp_asgi_raise(self, status, &err);
            return NULL;
        }
        self->reading = 1;
    }
    return gohttp_asgi_wait_in(self, &self->receive_fut);
}

/* The packed list (bridge.h) of an http.response.start's headers, an
 * iterable of [name, value] bytes pairs, names in canonical form, into
 * *out (PyMem_Raw, for the caller to free) and *size.  0, or -1 with an
 * exception that says what is wrong. */
int
gohttp_asgi_pack_headers(PyObject *headers, char **out, size_t *size)
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
int
gohttp_asgi_send_start(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    char *packed = NULL;
    size_t size = 0;

    if (self->started) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.start was sent already: a response "
                        "starts once");
        return -1;
    }
    PyObject *status = gohttp_asgi_require(
        message, st->asgi_key[GOHTTP_ASGI_K_STATUS],
        "http.response.start needs a 'status'");
    if (status == NULL) {
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
    if (gohttp_asgi_pack_headers(headers, &packed, &size) < 0) {
        return -1;
    }
    PyObject *trailers = get(message, st->asgi_key[GOHTTP_ASGI_K_TRAILERS]);
    int due = trailers != NULL ? PyObject_IsTrue(trailers) : 0;
    if (due < 0 || (trailers == NULL && PyErr_Occurred())) {
        PyMem_RawFree(packed);
        return -1;
    }
    self->trailers_due = (char)due;
    /* Held until the first body, which takes it to Go in the same call. */
    PyMem_RawFree(self->start_headers);
    self->start_headers = packed;
    self->start_size = size;
    self->start_status = (int32_t)code;
    self->started = 1;
    return 0;
}

/* The response is complete: a receive() still waiting gets
 * http.disconnect, as every receive() after it does (asgiref's www.rst);
 * Litestar's streams wait for it beside the stream.  0, or -1 with an
 * exception set. */
static int
end_waiting_receive(ASGICallObject *self)
{
    PyObject *msg = disconnect_message(self->state);   /* new reference */
    int rc = msg != NULL ? gohttp_asgi_resolve(&self->receive_fut, msg, NULL) : -1;
    Py_XDECREF(msg);
    return rc;
}

/* The last body of a response sent whole (its start is held still), in
 * bytes of at most HOLD_MAX: held in C, not given to Go yet.  Most apps
 * return right after it, and their end takes it to Go in the same call
 * (gohttp_asgi_end): one crossing, one wake of the request's goroutine.
 * One that goes on and waits for something has it given as its task
 * suspends (ASGIGuard), so that the client never waits for what the app
 * does after its response (Starlette's background tasks).  body is
 * borrowed (NULL: empty); the call keeps a reference of its own in
 * held_body until give_held.  0, or -1 with an exception set. */
static int
hold_last_body(ASGICallObject *self, PyObject *body)
{
    Py_XSETREF(self->held_body, Py_XNewRef(body));
    self->holding = 1;
    self->complete = 1;
    if (self->receive_fut != NULL && end_waiting_receive(self) < 0) {
        return -1;
    }
    return 0;
}

/* send() of http.response.body: 1 if it must wait for Go to write, 0 if
 * not, -1 with an exception set. */
int
gohttp_asgi_send_body(ASGICallObject *self, PyObject *message)
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
    if (self->complete || self->body_sent) {
        PyErr_SetString(gohttp_exc.StateError,
                        self->complete
                        ? "the response is complete: no http.response.body "
                          "may follow the one without more_body"
                        : "the body is complete: only http.response.trailers "
                          "may follow it");
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
    /* Held in C (see hold_last_body): not a WebSocket's denial response,
     * nor the last body of a response with trailers, which is not Go's
     * last: the trailers message completes it. */
    if (!more && self->start_status != 0 && !self->disconnected
        && !self->websocket && !self->trailers_due
        && (body == NULL || (PyBytes_CheckExact(body)
                             && PyBytes_GET_SIZE(body) <= HOLD_MAX))) {
        PyBuffer_Release(&view);
        return hold_last_body(self, body);
    }
    /* A large body Go writes from where it is (bridge.h rule 8g): not a
     * WebSocket's denial response (asgiws.go writes it as a copy). */
    int failed = 0;
    Py_buffer *loan = self->websocket ? NULL : lend_body(body, &view, &failed);
    if (failed) {
        PyBuffer_Release(&view);
        return -1;
    }
    gohttp_status rc = gohttp_asgi_body(self->handle, self->generation,
                                        self->start_status,
                                        self->start_headers, self->start_size,
                                        view.buf, (size_t)view.len,
                                        more || self->trailers_due,
                                        (uintptr_t)loan, &pending, &err);
    PyBuffer_Release(&view);
    if (rc != GOHTTP_OK && loan != NULL) {
        gohttp_asgi_release_loan((uintptr_t)loan);   /* Go kept nothing */
    }
    start_given(self);
    if (rc != GOHTTP_OK) {
        return gohttp_asgi_raise(self, rc, &err);
    }
    if (!more && self->trailers_due) {
        self->body_sent = 1;
        return pending;
    }
    self->complete = !more;
    if (self->complete && self->receive_fut != NULL
        && end_waiting_receive(self) < 0) {
        return -1;
    }
    return pending;
}

/* send() of http.response.pathsend (asgiref's extensions.rst): the file
 * at message["path"] is the whole body, which Go sends; Python never
 * reads it.  0, or -1 with an exception set: a file that cannot be sent
 * leaves the start held, so the app may still answer otherwise. */
static int
send_pathsend(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    PyObject *fspath = NULL;
    gohttp_error err;
    int rc = -1;

    if (!self->started) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.pathsend before http.response.start: "
                        "send the start first");
        return -1;
    }
    if (self->complete) {
        PyErr_SetString(gohttp_exc.StateError,
                        "the response is complete: no http.response.pathsend "
                        "may follow the last body");
        return -1;
    }
    if (self->start_status == 0) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.pathsend cannot follow "
                        "http.response.body: the file is the whole body");
        return -1;
    }
    PyObject *path = gohttp_asgi_require(
        message, st->asgi_key[GOHTTP_ASGI_K_PATH],
        "http.response.pathsend needs a 'path': the absolute path of the "
        "file to send");   /* borrowed */
    if (path == NULL) {
        return -1;
    }
    /* str, bytes or os.PathLike; a NUL in it is a ValueError. */
    if (!PyUnicode_FSConverter(path, &fspath)) {
        return -1;
    }
    gohttp_status status = gohttp_asgi_pathsend(
        self->handle, self->generation, self->start_status,
        self->start_headers, self->start_size, PyBytes_AS_STRING(fspath),
        (size_t)PyBytes_GET_SIZE(fspath), &err);
    if (status != GOHTTP_OK) {
        gohttp_asgi_raise(self, status, &err);
        goto done;
    }
    start_given(self);
    self->complete = 1;
    rc = self->receive_fut != NULL ? end_waiting_receive(self) : 0;
done:
    Py_XDECREF(fspath);
    return rc;
}

/* send() of http.response.early_hint: a 103 with message["links"] as Link
 * headers, sent before the final response's headers, if they have not
 * gone out yet (else nothing: asgiref lets a server ignore it).  0, or
 * -1 with an exception set. */
static int
send_early_hint(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    PyObject *links = NULL, *pairs = NULL, *name = NULL;
    char *packed = NULL;
    size_t size = 0;
    gohttp_error err;
    int rc = -1;

    if (self->complete || self->body_sent) {
        PyErr_SetString(gohttp_exc.StateError,
                        "the response is complete: an early hint goes "
                        "before the last http.response.body");
        return -1;
    }
    PyObject *given = gohttp_asgi_require(
        message, st->asgi_key[GOHTTP_ASGI_K_LINKS],
        "http.response.early_hint needs 'links': an iterable of Link "
        "header values, bytes");   /* borrowed */
    if (given == NULL) {
        return -1;
    }
    links = PySequence_Fast(given, "http.response.early_hint's links must "
                            "be an iterable of bytes");
    name = links != NULL ? PyBytes_FromString("link") : NULL;
    pairs = name != NULL ? PyList_New(PySequence_Fast_GET_SIZE(links)) : NULL;
    if (pairs == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(links); i++) {
        PyObject *pair = PyTuple_Pack(2, name,
                                      PySequence_Fast_GET_ITEM(links, i));
        if (pair == NULL) {
            goto done;
        }
        PyList_SET_ITEM(pairs, i, pair);   /* steals pair */
    }
    if (gohttp_asgi_pack_headers(pairs, &packed, &size) < 0) {
        goto done;
    }
    /* Once Go has the final start, a 103 can no longer go before it. */
    if (size > 0 && !(self->started && self->start_status == 0)) {
        gohttp_status status = gohttp_asgi_early_hint(
            self->handle, self->generation, packed, size, &err);
        if (status != GOHTTP_OK) {
            gohttp_asgi_raise(self, status, &err);
            goto done;
        }
    }
    rc = 0;
done:
    PyMem_RawFree(packed);
    Py_XDECREF(pairs);
    Py_XDECREF(name);
    Py_XDECREF(links);
    return rc;
}

/* send() of http.response.trailers: after the last body of a response
 * whose start said "trailers": True; the last message (more_trailers
 * false) completes the response.  0, or -1 with an exception set. */
static int
send_trailers(ASGICallObject *self, PyObject *message)
{
    gohttp_state *st = self->state;
    char *packed = NULL;
    size_t size = 0;
    gohttp_error err;
    int more = 0;

    if (self->complete) {
        PyErr_SetString(gohttp_exc.StateError,
                        "the response is complete: no http.response.trailers "
                        "may follow");
        return -1;
    }
    if (!self->started || !self->trailers_due) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.trailers without a start that "
                        "announced them: send http.response.start with "
                        "'trailers': True first");
        return -1;
    }
    if (!self->body_sent) {
        PyErr_SetString(gohttp_exc.StateError,
                        "http.response.trailers before the last "
                        "http.response.body: send the body first");
        return -1;
    }
    PyObject *headers = get(message, st->asgi_key[GOHTTP_ASGI_K_HEADERS]);
    if (headers == NULL && PyErr_Occurred()) {
        return -1;
    }
    PyObject *more_trailers = get(message,
                                  st->asgi_key[GOHTTP_ASGI_K_MORE_TRAILERS]);
    if (more_trailers != NULL) {
        more = PyObject_IsTrue(more_trailers);
    }
    if (more < 0 || (more_trailers == NULL && PyErr_Occurred())) {
        return -1;
    }
    /* Gathered until the last: one check of all, one crossing. */
    if (headers != NULL) {
        if (self->trailers == NULL) {
            self->trailers = PyList_New(0);
        }
        PyObject *added = self->trailers != NULL
                          ? PyObject_CallMethod(self->trailers, "extend", "O",
                                                headers)
                          : NULL;
        if (added == NULL) {
            return -1;
        }
        Py_DECREF(added);
    }
    if (more) {
        return 0;
    }
    if (gohttp_asgi_pack_headers(self->trailers, &packed, &size) < 0) {
        return -1;
    }
    Py_CLEAR(self->trailers);
    gohttp_status status = gohttp_asgi_trailers(self->handle,
                                                self->generation, packed,
                                                size, &err);
    PyMem_RawFree(packed);
    if (status != GOHTTP_OK) {
        return gohttp_asgi_raise(self, status, &err);
    }
    self->complete = 1;
    return self->receive_fut != NULL ? end_waiting_receive(self) : 0;
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

    if (gohttp_asgi_check_live(self) < 0) {
        return NULL;
    }
    if (!PyDict_Check(message)) {
        PyErr_Format(PyExc_TypeError,
                     "send() takes an ASGI message, a dict, not %.200s",
                     Py_TYPE(message)->tp_name);
        return NULL;
    }
    if (self->websocket) {
        return gohttp_asgiws_send(self, message);
    }
    if (gohttp_asgi_idle(&self->send_fut, "send") < 0) {
        return NULL;
    }
    PyObject *type = gohttp_asgi_require(
        message, st->asgi_key[GOHTTP_ASGI_K_TYPE],
        "an ASGI message needs a 'type'");
    if (type == NULL) {
        return NULL;
    }
    if (PyUnicode_Check(type)
        && PyUnicode_Compare(type, st->asgi_value[GOHTTP_ASGI_V_BODY]) == 0) {
        rc = gohttp_asgi_send_body(self, message);
    }
    else if (PyUnicode_Check(type)
             && PyUnicode_Compare(type,
                                  st->asgi_value[GOHTTP_ASGI_V_START]) == 0) {
        rc = gohttp_asgi_send_start(self, message);
    }
    else if (PyUnicode_Check(type)
             && PyUnicode_Compare(type,
                                  st->asgi_value[GOHTTP_ASGI_V_PATHSEND]) == 0) {
        rc = send_pathsend(self, message);
    }
    else if (PyUnicode_Check(type)
             && PyUnicode_Compare(
                    type, st->asgi_value[GOHTTP_ASGI_V_EARLY_HINT]) == 0) {
        rc = send_early_hint(self, message);
    }
    else if (PyUnicode_Check(type)
             && PyUnicode_Compare(type,
                                  st->asgi_value[GOHTTP_ASGI_V_TRAILERS]) == 0) {
        rc = send_trailers(self, message);
    }
    else {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError,
                         "unexpected ASGI message type %.200R in an http "
                         "scope: send 'http.response.start', then "
                         "'http.response.body' (or "
                         "'http.response.pathsend')", type);
        }
        rc = -1;
    }
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        return gohttp_asgi_wait_in(self, &self->send_fut);
    }
    return Py_NewRef(st->asgi_done);
}

PyDoc_STRVAR(finish_doc,
"_finish(returned)\n--\n\n"
"Tell Go the app is done: it returned (True) or raised (False).  An app\n"
"that returned before completing its response failed all the same; one\n"
"that raised after completing it has answered (Go sends it whole).\n"
"gohttp.asgi calls it; receive() and send() are invalid afterwards.");

static PyObject *
asgi_call_finish(PyObject *op, PyObject *returned)
{
    ASGICallObject *self = ASGICall_CAST(op);
    int ok = PyObject_IsTrue(returned);
    if (ok < 0) {
        return NULL;
    }
    /* Complete is answered, even if the app raised afterwards (Starlette
     * sends its 500, then re-raises): the client gets what it was sent;
     * whether the app returned or raised matters to the log alone.  A
     * WebSocket's outcome is whether its app returned (Go closes it with
     * 1000, or 1011 if it raised), unless it began a denial response. */
    gohttp_outcome outcome = self->complete ? GOHTTP_HANDLED : GOHTTP_FAILED;
    if (self->websocket && !self->started) {
        outcome = ok ? GOHTTP_HANDLED : GOHTTP_FAILED;
    }
    gohttp_asgi_call_finish(self, outcome);
    Py_CLEAR(self->receive_fut);
    Py_CLEAR(self->send_fut);
    Py_CLEAR(self->ws_senders);
    Py_CLEAR(self->message);
    Py_CLEAR(self->trailers);
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
     PyDoc_STR("True once the client has gone away; for a WebSocket, once\n"
               "it is closed."),
     (void *)offsetof(ASGICallObject, disconnected)},
    {"websocket", asgi_call_get_flag, NULL,
     PyDoc_STR("True for a websocket scope."),
     (void *)offsetof(ASGICallObject, websocket)},
    {"ws_closed", asgi_call_get_flag, NULL,
     PyDoc_STR("True once the app sent websocket.close."),
     (void *)offsetof(ASGICallObject, ws_closed)},
    {NULL},
};

static PyMemberDef asgi_call_members[] = {
    {"task", T_OBJECT, offsetof(ASGICallObject, task), 0,
     PyDoc_STR("The app's task, for a shutdown to cancel.")},
    {"app", T_OBJECT, offsetof(ASGICallObject, app), READONLY,
     PyDoc_STR("The ASGIApp the request was routed to.")},
    {NULL},
};

/* ---- ASGIGuard: the app's awaitable, watched ---------------------------- */

/* What _run awaits instead of the app's coroutine: it passes every step
 * through, and when the app suspends (its coroutine yields to the task),
 * gives Go the last body its send() holds.  So a held body waits for the
 * app to return (one crossing with the end) only while the app runs on
 * without waiting. */
typedef struct {
    PyObject_HEAD
    ASGICallObject *call;   /* strong */
    PyObject *inner;        /* the app's awaitable's iterator */
} GuardObject;

static int
guard_traverse(PyObject *op, visitproc visit, void *arg)
{
    GuardObject *self = (GuardObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->call);
    Py_VISIT(self->inner);
    return 0;
}

static int
guard_clear(PyObject *op)
{
    GuardObject *self = (GuardObject *)op;
    Py_CLEAR(self->call);
    Py_CLEAR(self->inner);
    return 0;
}

static void
guard_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)guard_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
guard_await(PyObject *op)
{
    return Py_NewRef(op);
}

static PySendResult
guard_send(PyObject *op, PyObject *arg, PyObject **result)
{
    GuardObject *self = (GuardObject *)op;
    PySendResult r = PyIter_Send(self->inner, arg, result);
    if (r == PYGEN_NEXT) {
        flush_held(self->call);
    }
    return r;
}

/* The iterator protocol's end: StopIteration(value) set, NULL. */
static PyObject *
stop_with(PyObject *value)
{
    if (value == Py_None) {
        Py_DECREF(value);
        return NULL;   /* no exception set: StopIteration() */
    }
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

/* send(arg) as the iterator protocol has it: the value yielded (new
 * reference), or NULL with StopIteration (the return value) or the
 * error set. */
static PyObject *
guard_send_method(PyObject *op, PyObject *arg)
{
    PyObject *result;
    switch (guard_send(op, arg, &result)) {
    case PYGEN_NEXT:
        return result;
    case PYGEN_RETURN:
        return stop_with(result);
    default:
        return NULL;
    }
}

static PyObject *
guard_next(PyObject *op)
{
    return guard_send_method(op, Py_None);
}

/* throw(...): into the app's awaitable, as a task's cancel() does. */
static PyObject *
guard_throw(PyObject *op, PyObject *args)
{
    GuardObject *self = (GuardObject *)op;
    PyObject *throw = PyObject_GetAttrString(self->inner, "throw");
    if (throw == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Call(throw, args, NULL);
    Py_DECREF(throw);
    if (result != NULL) {   /* it yielded: the app waits */
        flush_held(self->call);
    }
    return result;
}

static PyObject *
guard_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    GuardObject *self = (GuardObject *)op;
    PyObject *close;
    int found = PyObject_GetOptionalAttrString(self->inner, "close", &close);
    if (found <= 0) {
        return found < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *result = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return result;
}

static PyMethodDef guard_methods[] = {
    {"send", guard_send_method, METH_O, NULL},
    {"throw", guard_throw, METH_VARARGS, NULL},
    {"close", guard_close, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot guard_slots[] = {
    {Py_tp_dealloc, guard_dealloc},
    {Py_tp_traverse, guard_traverse},
    {Py_tp_clear, guard_clear},
    {Py_am_await, guard_await},
    {Py_am_send, guard_send},
    {Py_tp_iter, guard_await},
    {Py_tp_iternext, guard_next},
    {Py_tp_methods, guard_methods},
    {Py_tp_doc, (void *)PyDoc_STR(
        "An ASGI app's awaitable as gohttp.asgi awaits it: see "
        "ASGICall._guard().")},
    {0, NULL},
};

PyType_Spec gohttp_asgi_guard_spec = {
    .name = "gohttp._gohttp.ASGIGuard",
    .basicsize = sizeof(GuardObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = guard_slots,
};

PyDoc_STRVAR(guard_doc,
"_guard(awaitable)\n--\n\n"
"awaitable (what the app returned), to await in its place: each time the\n"
"app waits for something, the last body its send() holds goes to Go\n"
"first.  gohttp.asgi's _run awaits it.");

static PyObject *
asgi_call_guard(PyObject *op, PyObject *awaitable)
{
    ASGICallObject *call = ASGICall_CAST(op);
    PyObject *inner;
    if (PyCoro_CheckExact(awaitable) || PyGen_Check(awaitable)) {
        inner = Py_NewRef(awaitable);   /* a generator: @types.coroutine */
    }
    else {
        unaryfunc await = Py_TYPE(awaitable)->tp_as_async != NULL
                          ? Py_TYPE(awaitable)->tp_as_async->am_await : NULL;
        if (await == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "an ASGI app must return an awaitable (be an "
                         "async def), not %.200s",
                         Py_TYPE(awaitable)->tp_name);
            return NULL;
        }
        inner = await(awaitable);
        if (inner == NULL) {
            return NULL;
        }
    }
    GuardObject *self = PyObject_GC_New(GuardObject,
                                        call->state->ASGIGuardType);
    if (self == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    self->call = (ASGICallObject *)Py_NewRef(call);
    self->inner = inner;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyMethodDef asgi_call_methods[] = {
    {"receive", asgi_call_receive, METH_NOARGS, receive_doc},
    {"send", asgi_call_send, METH_O, send_doc},
    {"_finish", asgi_call_finish, METH_O, finish_doc},
    {"_guard", asgi_call_guard, METH_O, guard_doc},
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

/* ---- events and making a call ---------------------------------------- */

ASGICallObject *
gohttp_asgi_call_new(ASGILoopObject *loop, PyObject *app,
                     const gohttp_asgi_event *ev)
{
    gohttp_state *st = loop->state;
    ASGICallObject *call = PyObject_GC_New(ASGICallObject, st->ASGICallType);
    if (call == NULL) {
        return NULL;
    }
    memset((char *)call + sizeof(PyObject), 0,
           sizeof *call - sizeof(PyObject));
    call->state = st;
    call->loop = (ASGILoopObject *)Py_NewRef(loop);
    call->app = Py_NewRef(app);
    call->handle = ev->req.call;
    call->generation = ev->req.generation;
    call->content_length = ev->req.content_length;
    call->websocket = ev->kind == GOHTTP_ASGI_WS_CONNECT;
    PyObject_GC_Track(call);
    call->key = PyLong_FromSize_t((size_t)ev->req.call);
    if (call->key == NULL
        || PyDict_SetItem(loop->calls, call->key, (PyObject *)call) < 0) {
        gohttp_asgi_call_finish(call, GOHTTP_FAILED);
        Py_DECREF(call);
        return NULL;
    }
    return call;   /* new reference; loop->calls holds another */
}

int
gohttp_asgi_call_event(ASGICallObject *call, const gohttp_asgi_event *ev,
                       const char *data)
{
    gohttp_state *st = call->state;
    PyObject *msg = NULL, *exc = NULL;
    int rc = 0;

    if (call->websocket) {
        return gohttp_asgiws_event(call, ev, data);
    }
    switch (ev->kind) {
    case GOHTTP_ASGI_BODY:
        call->reading = 0;
        call->body_done = !ev->more_body;
        msg = request_message(st, data, (Py_ssize_t)ev->len, ev->more_body);
        /* Not waiting (it gave up): the next receive() gets it. */
        if (msg == NULL || gohttp_asgi_deliver(call, msg) < 0) {
            rc = -1;
        }
        break;
    case GOHTTP_ASGI_DISCONNECT:
        call->disconnected = 1;
        call->reading = 0;
        msg = disconnect_message(st);
        exc = PyObject_CallFunction(call->loop->disconnected, "s",
                                    "the client has gone away: the "
                                    "connection is closed");
        if (msg == NULL || exc == NULL
            || gohttp_asgi_resolve(&call->receive_fut, msg, NULL) < 0
            || gohttp_asgi_resolve(&call->send_fut, NULL, exc) < 0) {
            rc = -1;
        }
        break;
    case GOHTTP_ASGI_WRITTEN:
        rc = gohttp_asgi_resolve(&call->send_fut, Py_None, NULL);
        break;
    }
    Py_XDECREF(msg);
    Py_XDECREF(exc);
    return rc;
}
