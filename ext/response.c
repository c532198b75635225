/*
 * response.c — gohttp.ResponseWriter, how a handler answers.
 *
 * The status and headers cross to Go in one call (gohttp_call_write_header)
 * when the response starts: at write_header(), the first write() or
 * flush(), or when the handler returns.  Until then w.header is a plain
 * Python object.  Body bytes cross on each write(); the GIL is released
 * for a write that may reach the socket, so a slow client does not stall
 * other handlers.
 */
#include "module.h"

#include <string.h>

/* Go buffers the first bytes of a body (net/http's
 * bufferBeforeChunkingSize) without touching the socket: writes that stay
 * within it cannot block, so they keep the GIL and skip two GIL handoffs. */
#define GO_BODY_BUFFER 2048

typedef struct {
    PyObject_HEAD
    gohttp_state *state;     /* borrowed: the type keeps the module alive */
    uintptr_t call;          /* the Go call; 0 once released */
    uint64_t generation;
    PyObject *header;        /* Headers, made on first access, or NULL */
    int started;             /* the status and headers were sent */
    int64_t written;         /* body bytes written so far */
} ResponseWriterObject;

#define Response_CAST(op) ((ResponseWriterObject *)(op))

static int
check_live(ResponseWriterObject *self)
{
    if (self->call == 0) {
        PyErr_SetString(PyExc_RuntimeError,
            "the request is finished: a ResponseWriter is valid only "
            "until its handler returns");
        return -1;
    }
    return 0;
}

PyObject *
gohttp_response_new(gohttp_state *st, const gohttp_request *req)
{
    ResponseWriterObject *self = PyObject_New(ResponseWriterObject,
                                              st->ResponseWriterType);
    if (self == NULL) {
        return NULL;
    }
    self->state = st;
    self->call = req->call;
    self->generation = req->generation;
    self->header = NULL;
    self->started = 0;
    self->written = 0;
    return (PyObject *)self;   /* new reference */
}

void
gohttp_response_release(PyObject *op)
{
    Py_BEGIN_CRITICAL_SECTION(op);
    Response_CAST(op)->call = 0;
    Py_END_CRITICAL_SECTION();
}

static void
response_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    Py_XDECREF(Response_CAST(op)->header);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* ---- headers ----------------------------------------------------------- */

/* Add one packed-list item (bridge.h) for s to buf at *pos, or only count
 * its size when buf is NULL.  Returns -1 if it would pass capacity. */
static inline int
put_item(char *buf, size_t capacity, size_t *pos, const char *s,
         Py_ssize_t len)
{
    size_t need = sizeof(uint32_t) + (size_t)len;
    if (buf != NULL) {
        uint32_t n = (uint32_t)len;
        if (need > capacity - *pos) {
            return -1;
        }
        memcpy(buf + *pos, &n, sizeof n);
        memcpy(buf + *pos + sizeof n, s, (size_t)len);
    }
    *pos += need;
    return 0;
}

/* The latin-1 bytes of a header key or value, without copying: a str of
 * code points up to U+00FF keeps exactly those bytes.  Request headers
 * are decoded from latin-1 the same way.  NULL with ValueError beyond. */
static const char *
latin1_bytes(PyObject *s, Py_ssize_t *len)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "header keys and values must be str, "
                     "not %.200s", Py_TYPE(s)->tp_name);
        return NULL;
    }
    if (PyUnicode_MAX_CHAR_VALUE(s) > 0xFF) {
        PyErr_Format(PyExc_ValueError,
                     "header %R has characters beyond latin-1, which HTTP "
                     "headers cannot carry: percent-encode them, or use "
                     "RFC 8187 (filename*=UTF-8''...)", s);
        return NULL;
    }
    *len = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

/* Pack the header map {canonical key: [values]} into buf, which holds
 * capacity bytes, or only size it when buf is NULL.  Returns 0, or -1
 * with an exception set (also if the map grew since it was sized: another
 * thread changed it). */
static int
pack_headers(PyObject *map, char *buf, size_t capacity, size_t *size)
{
    PyObject *key, *values;
    Py_ssize_t i = 0;
    *size = 0;
    while (PyDict_Next(map, &i, &key, &values)) {   /* borrowed */
        Py_ssize_t klen;
        const char *k = latin1_bytes(key, &klen);
        if (k == NULL) {
            return -1;
        }
        if (!PyList_Check(values)) {
            PyErr_SetString(PyExc_TypeError, "corrupt Headers object");
            return -1;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(values); j++) {
            Py_ssize_t vlen;
            const char *v = latin1_bytes(PyList_GET_ITEM(values, j), &vlen);
            if (v == NULL) {
                return -1;
            }
            if (put_item(buf, capacity, size, k, klen) < 0
                || put_item(buf, capacity, size, v, vlen) < 0) {
                PyErr_SetString(PyExc_RuntimeError,
                                "w.header changed while it was being sent");
                return -1;
            }
        }
    }
    return 0;
}

/* Send the status code, the headers and the first n bytes of the body
 * (n may be 0) in one call, and store how many body bytes went in
 * *written.  Returns 0, or -1 with an exception set. */
static int
commit(ResponseWriterObject *self, int code, const char *body, size_t n,
       size_t *written)
{
    PyObject *map = NULL;
    char stack[1024], *buf = stack;
    size_t size = 0;
    gohttp_error err;
    gohttp_status status;
    int sent = 0, rc = -1;

    if (self->header != NULL) {
        map = PyObject_GetAttr(self->header, self->state->str_map);
        if (map == NULL) {
            goto done;
        }
        if (!PyDict_Check(map)) {
            PyErr_SetString(PyExc_TypeError, "corrupt Headers object");
            goto done;
        }
        if (pack_headers(map, NULL, 0, &size) < 0) {
            goto done;
        }
        size_t capacity = size > sizeof stack ? size : sizeof stack;
        if (size > sizeof stack && (buf = PyMem_Malloc(size)) == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        if (pack_headers(map, buf, capacity, &size) < 0) {
            goto done;
        }
    }
    *written = 0;
    if (n <= GO_BODY_BUFFER) {
        /* Go only buffers: the socket is not touched. */
        status = gohttp_call_write_header(self->call, self->generation, code,
                                          buf, size, (char *)body, n,
                                          written, &sent, &err);
    }
    else {
        uintptr_t call = self->call;
        uint64_t generation = self->generation;
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_call_write_header(call, generation, code, buf, size,
                                          (char *)body, n, written, &sent,
                                          &err);
        Py_END_ALLOW_THREADS
    }
    self->written += (int64_t)*written;
    if (sent && (code >= 200 || code == 101)) {
        self->started = 1;   /* even if the body part failed */
    }
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    if (code >= 200 || code == 101) {
        self->started = 1;
    }
    rc = 0;
done:
    if (buf != stack) {
        PyMem_Free(buf);
    }
    Py_XDECREF(map);
    return rc;
}

static PyObject *
get_header(PyObject *op, void *closure)
{
    ResponseWriterObject *self = Response_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        if (self->header == NULL) {
            self->header = PyObject_CallNoArgs(self->state->Headers);
        }
        result = Py_XNewRef(self->header);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

/* ---- methods ------------------------------------------------------------ */

PyDoc_STRVAR(write_header_doc,
"write_header(code, /)\n--\n\n"
"Send the status line with code and the headers in w.header.  Call it\n"
"at most once, before write(); without it, the first write() sends 200.\n"
"Informational codes (1xx) may precede the final one.");

static PyObject *
response_write_header(PyObject *op, PyObject *arg)
{
    ResponseWriterObject *self = Response_CAST(op);
    PyObject *result = NULL;
    size_t unused;
    int overflow;
    long code = PyLong_AsLongAndOverflow(arg, &overflow);
    if (code == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || code < 100 || code > 999) {
        PyErr_Format(PyExc_ValueError,
                     "invalid status code %R: want an int from 100 to 999",
                     arg);
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        if (self->started) {
            PyErr_SetString(PyExc_RuntimeError,
                "the response has already started: write_header() must "
                "come before write() and flush(), and only once");
        }
        else if (commit(self, (int)code, NULL, 0, &unused) == 0) {
            result = Py_NewRef(Py_None);
        }
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

PyDoc_STRVAR(write_doc,
"write(data, /)\n--\n\n"
"Write data (bytes-like, or str encoded as UTF-8) to the response body\n"
"and return the number of bytes written.  The first write sends the\n"
"status (200 unless write_header() said otherwise) and headers.  Raises\n"
"BrokenPipeError (an OSError) if the client has gone away.");

static PyObject *
response_write(PyObject *op, PyObject *data)
{
    ResponseWriterObject *self = Response_CAST(op);
    Py_buffer view = {0};
    const char *p;
    Py_ssize_t n;
    PyObject *result = NULL;

    if (PyUnicode_Check(data)) {
        p = PyUnicode_AsUTF8AndSize(data, &n);   /* cached in data */
        if (p == NULL) {
            return NULL;
        }
    }
    else if (PyObject_CheckBuffer(data)) {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        p = view.buf;
        n = view.len;
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be bytes, bytearray, memoryview "
                     "or str, not %.200s", Py_TYPE(data)->tp_name);
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) < 0) {
        goto done;
    }
    size_t written = 0;
    if (!self->started) {   /* status, headers and data in one crossing */
        if (commit(self, 200, p, (size_t)n, &written) < 0) {
            goto done;
        }
        result = PyLong_FromSize_t(written);
        goto done;
    }
    gohttp_error err;
    gohttp_status status = GOHTTP_OK;
    uintptr_t call = self->call;
    uint64_t generation = self->generation;
    if (n == 0) {
        /* nothing to send */
    }
    else if (self->written + n <= GO_BODY_BUFFER) {
        status = gohttp_call_write(call, generation, (char *)p, (size_t)n,
                                   &written, &err);
    }
    else {
        /* data stays alive and, if a buffer, locked: we hold both. */
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_call_write(call, generation, (char *)p, (size_t)n,
                                   &written, &err);
        Py_END_ALLOW_THREADS
    }
    self->written += (int64_t)written;
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    result = PyLong_FromSize_t(written);
done:
    Py_END_CRITICAL_SECTION();
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return result;
}

PyDoc_STRVAR(flush_doc,
"flush()\n--\n\n"
"Send what the response has buffered to the client now (starting the\n"
"response if needed).  Without Content-Length the body is chunked, so\n"
"streamed responses such as server-sent events reach the client at once.");

static PyObject *
response_flush(PyObject *op, PyObject *unused)
{
    ResponseWriterObject *self = Response_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    size_t unused;
    if (check_live(self) < 0
        || (!self->started && commit(self, 200, NULL, 0, &unused) < 0)) {
        goto done;
    }
    uintptr_t call = self->call;
    uint64_t generation = self->generation;
    gohttp_error err;
    gohttp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = gohttp_call_flush(call, generation, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    Py_END_CRITICAL_SECTION();
    return result;
}

/* Called when the handler returned normally: send headers that were set
 * but never sent.  Returns 0, or -1 with an exception set. */
int
gohttp_response_finish(PyObject *op)
{
    ResponseWriterObject *self = Response_CAST(op);
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (self->call != 0 && !self->started && self->header != NULL) {
        size_t unused;
        rc = commit(self, 200, NULL, 0, &unused);
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyObject *
response_repr(PyObject *op)
{
    ResponseWriterObject *self = Response_CAST(op);
    return PyUnicode_FromFormat("<gohttp.ResponseWriter %s>",
                                self->call == 0 ? "(finished)"
                                : self->started ? "(started)" : "(new)");
}

static PyGetSetDef response_getset[] = {
    {"header", get_header, NULL,
     PyDoc_STR("The response headers, a mutable gohttp.Headers.  Changes "
               "after the response started have no effect."), NULL},
    {NULL},
};

static PyMethodDef response_methods[] = {
    {"write", response_write, METH_O, write_doc},
    {"write_header", response_write_header, METH_O, write_header_doc},
    {"set_status", response_write_header, METH_O,
     PyDoc_STR("set_status(code, /)\n--\n\nAn alias of write_header().")},
    {"flush", response_flush, METH_NOARGS, flush_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(response_doc,
"How a handler writes its response: handler(w, req).\n\n"
"Set headers in w.header, then optionally w.write_header(code), then\n"
"w.write(data) as often as needed.  Valid only until the handler\n"
"returns; afterwards every method raises RuntimeError.  Not created from\n"
"Python.");

static PyType_Slot response_slots[] = {
    {Py_tp_dealloc, response_dealloc},
    {Py_tp_repr, response_repr},
    {Py_tp_getset, response_getset},
    {Py_tp_methods, response_methods},
    {Py_tp_doc, (void *)response_doc},
    {0, NULL},
};

PyType_Spec gohttp_response_spec = {
    .name = "gohttp.ResponseWriter",
    .basicsize = sizeof(ResponseWriterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = response_slots,
};
