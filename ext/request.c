/*
 * request.c — gohttp.Request, what a handler knows of its request.
 *
 * A Request is a view of Go memory (bridge.h, rule 2): its fields are
 * decoded into Python objects only when a handler touches them.  The
 * view ends when the handler returns (gohttp_request_release); after
 * that every attribute raises RequestFinishedError instead of reading memory Go
 * has reused.
 *
 * Threads: a handler may hand its Request to other threads.  Every field
 * is read and changed in the object's critical section.  Reading the body
 * waits in Go without the GIL, which also suspends the critical section,
 * so one read at a time is let into Go (reading): a second thread's read
 * meanwhile raises StateError rather than interleave with it.  The
 * headers are copied out of Go's block before any Python object is made
 * from them, since making one may suspend the critical section too.
 */
#include "module.h"

#include <string.h>

typedef struct {
    PyObject_HEAD
    gohttp_state *state;          /* borrowed: the type keeps the module */
    const gohttp_request *req;    /* borrowed from Go; NULL once released */
    const char *data;             /* borrowed from Go; NULL once released */
    uintptr_t call;               /* the Go call, for body reads */
    uint64_t generation;
    PyObject *headers;            /* Headers, made on first access */
    PyObject *tls;                /* req.tls, made on first access */
    PyObject *body;               /* the whole body, once read, or NULL */
    Py_ssize_t body_pos;          /* read() position within body */
    int64_t body_read;            /* bytes read from Go so far */
    int body_over;                /* Go reported the end of the body */
    int reading;                  /* a thread is reading the body from Go */
} RequestObject;

#define Request_CAST(op) ((RequestObject *)(op))

static const char finished_msg[] =
    "the request is finished: a Request is valid only until its handler "
    "returns; copy what you need to keep";

/* Return 0 if the view is live, else -1 with RequestFinishedError.  Call inside
 * the object's critical section. */
static int
check_live(RequestObject *self)
{
    if (self->req == NULL) {
        PyErr_SetString(gohttp_exc.RequestFinishedError, finished_msg);
        return -1;
    }
    return 0;
}

/* The bytes of a span; valid while the view is live. */
static inline const char *
span_ptr(RequestObject *self, int field, Py_ssize_t *len)
{
    gohttp_span sp = self->req->field[field];
    *len = (Py_ssize_t)sp.len;
    return self->data + sp.off;
}

/* Decode bytes that may not be valid UTF-8 without losing any. */
static inline PyObject *
decode_utf8(const char *s, Py_ssize_t len)
{
    return PyUnicode_DecodeUTF8(s, len, "surrogateescape");
}

PyObject *
gohttp_request_new(gohttp_state *st, const gohttp_request *req,
                   const char *data)
{
    RequestObject *self = (RequestObject *)st->spare_request;
    if (self != NULL) {
        st->spare_request = NULL;   /* released: see gohttp_request_done */
    }
    else if ((self = PyObject_New(RequestObject, st->RequestType)) == NULL) {
        return NULL;
    }
    self->state = st;
    self->req = req;
    self->data = data;
    self->call = req->call;
    self->generation = req->generation;
    self->headers = NULL;
    self->tls = NULL;
    self->body = NULL;
    self->body_pos = 0;
    self->body_read = 0;
    self->body_over = 0;
    self->reading = 0;
    return (PyObject *)self;   /* new reference */
}

void
gohttp_request_release(PyObject *op)
{
    RequestObject *self = Request_CAST(op);
    PyObject *headers, *body, *tls;
    Py_BEGIN_CRITICAL_SECTION(op);
    self->req = NULL;
    self->data = NULL;
    headers = self->headers;   /* a kept Request need not keep these */
    body = self->body;
    tls = self->tls;
    self->headers = self->body = self->tls = NULL;
    Py_END_CRITICAL_SECTION();
    Py_XDECREF(headers);
    Py_XDECREF(body);
    Py_XDECREF(tls);
}

/* A released Request no one else holds (the handler kept no reference)
 * is kept for the next request: an allocation and a free less per
 * request.  Free-threaded builds let it go (see gohttp_response_done). */
void
gohttp_request_done(PyObject *op)
{
    gohttp_request_release(op);   /* may run Python code: look after it */
#ifndef Py_GIL_DISABLED
    gohttp_state *st = Request_CAST(op)->state;
    if (st->spare_request == NULL && Py_REFCNT(op) == 1) {
        st->spare_request = op;   /* our reference moves there */
        return;
    }
#endif
    Py_DECREF(op);
}

static void
request_dealloc(PyObject *op)
{
    RequestObject *self = Request_CAST(op);
    PyTypeObject *tp = Py_TYPE(op);
    Py_XDECREF(self->headers);
    Py_XDECREF(self->body);
    Py_XDECREF(self->tls);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* ---- simple fields ---------------------------------------------------- */

/* A getter for one span: closure is the field number. */
static PyObject *
get_field(PyObject *op, void *closure)
{
    RequestObject *self = Request_CAST(op);
    int field = (int)(intptr_t)closure;
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        Py_ssize_t len;
        const char *s = span_ptr(self, field, &len);
        result = decode_utf8(s, len);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

static PyObject *
get_content_length(PyObject *op, void *closure)
{
    RequestObject *self = Request_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        int64_t n = self->req->content_length;
        result = n < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(n);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

/* A PyMem_Raw copy of a span (free it with PyMem_RawFree), its size in
 * *size if size is not NULL; NULL with MemoryError.  A field is copied out
 * of Go's memory before any Python object is made of it: an allocation
 * may run code (a finalizer) that suspends the critical section, and the
 * handler may return meanwhile and Go reuse the block.  PyMem_RawMalloc
 * runs no Python code.  Call inside the critical section, view live. */
static char *
copy_span(RequestObject *self, int field, Py_ssize_t *size)
{
    Py_ssize_t n;
    const char *span = span_ptr(self, field, &n);
    char *block = PyMem_RawMalloc(n > 0 ? (size_t)n : 1);
    if (block == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(block, span, (size_t)n);
    if (size != NULL) {
        *size = n;
    }
    return block;
}

static PyObject *
get_headers(PyObject *op, void *closure)
{
    RequestObject *self = Request_CAST(op);
    PyObject *map = NULL, *made = NULL, *result = NULL;
    char *block = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) < 0) {
        goto done;
    }
    if (self->headers != NULL) {
        result = Py_NewRef(self->headers);
        goto done;
    }
    uint32_t count = self->req->header_count;
    block = copy_span(self, GOHTTP_F_HEADERS, NULL);
    if (block == NULL) {
        goto done;
    }
    map = PyDict_New();
    if (map == NULL) {
        goto done;
    }
    const char *p = block;
    for (uint32_t i = 0; i < count; i++) {
        Py_ssize_t klen, vlen;
        const char *k = gohttp_next_item(&p, &klen);
        const char *v = gohttp_next_item(&p, &vlen);
        PyObject *key = PyUnicode_DecodeLatin1(k, klen, NULL);
        PyObject *value = key ? PyUnicode_DecodeLatin1(v, vlen, NULL) : NULL;
        PyObject *values = value ? PyDict_GetItemWithError(map, key) : NULL;
        int rc = -1;
        if (value != NULL && values != NULL) {      /* borrowed */
            rc = PyList_Append(values, value);
        }
        else if (value != NULL && !PyErr_Occurred()) {
            values = PyList_New(1);
            if (values != NULL) {
                PyList_SET_ITEM(values, 0, Py_NewRef(value));
                rc = PyDict_SetItem(map, key, values);
                Py_DECREF(values);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            goto done;
        }
    }
    made = gohttp_headers_frozen(self->state, map);
    if (made != NULL) {
        if (self->headers == NULL) {   /* else another thread made them */
            self->headers = Py_NewRef(made);
        }
        result = Py_NewRef(self->headers);
    }
done:
    Py_END_CRITICAL_SECTION();
    PyMem_RawFree(block);
    Py_XDECREF(made);
    Py_XDECREF(map);
    return result;
}

/* ---- TLS ----------------------------------------------------------------- */

/* A str of a TLS name, None if empty: a new reference. */
static PyObject *
name_or_none(const gohttp_tls_state *tls, int i)
{
    if (tls->name_len[i] == 0) {
        return Py_NewRef(Py_None);
    }
    return decode_utf8(tls->name[i], tls->name_len[i]);
}

/* req.tls made of the TLS span block[:size], a copy the caller owns: a
 * read-only mapping (a new reference). */
static PyObject *
tls_mapping(const char *block, Py_ssize_t size)
{
    gohttp_tls_state tls;
    PyObject *dict = NULL, *chain = NULL, *result = NULL;
    (void)gohttp_tls_read(block, size, &tls);
    chain = PyList_New(0);
    if (chain == NULL) {
        goto done;
    }
    for (const char *p = tls.chain; p < tls.chain_end;) {
        Py_ssize_t n;
        const char *der = gohttp_next_item(&p, &n);
        PyObject *cert = PyBytes_FromStringAndSize(der, n);
        if (cert == NULL || PyList_Append(chain, cert) < 0) {
            Py_XDECREF(cert);
            goto done;
        }
        Py_DECREF(cert);
    }
    Py_SETREF(chain, PyList_AsTuple(chain));
    if (chain == NULL) {
        goto done;
    }
    dict = Py_BuildValue(
        "{s:N,s:N,s:N,s:N,s:O}",
        "version", decode_utf8(tls.name[GOHTTP_TLS_VERSION],
                               tls.name_len[GOHTTP_TLS_VERSION]),
        "cipher", decode_utf8(tls.name[GOHTTP_TLS_CIPHER],
                              tls.name_len[GOHTTP_TLS_CIPHER]),
        "server_name", name_or_none(&tls, GOHTTP_TLS_SERVER_NAME),
        "alpn", name_or_none(&tls, GOHTTP_TLS_ALPN),
        "client_cert_chain", chain);
    if (dict != NULL) {
        result = PyDictProxy_New(dict);
    }
done:
    Py_XDECREF(dict);
    Py_XDECREF(chain);
    return result;
}

static PyObject *
get_tls(PyObject *op, void *closure)
{
    RequestObject *self = Request_CAST(op);
    PyObject *made = NULL, *result = NULL;
    char *block = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) < 0) {
        goto done;
    }
    if (self->tls != NULL) {
        result = Py_NewRef(self->tls);
        goto done;
    }
    if (self->req->field[GOHTTP_F_TLS].len == 0) {
        result = Py_NewRef(Py_None);   /* cleartext */
        goto done;
    }
    Py_ssize_t size;
    block = copy_span(self, GOHTTP_F_TLS, &size);
    if (block == NULL) {
        goto done;
    }
    made = tls_mapping(block, size);
    if (made != NULL) {
        if (self->tls == NULL) {   /* else another thread made it */
            self->tls = Py_NewRef(made);
        }
        result = Py_NewRef(self->tls);
    }
done:
    Py_END_CRITICAL_SECTION();
    PyMem_RawFree(block);
    Py_XDECREF(made);
    return result;
}

/* ---- the body ----------------------------------------------------------- */

/* Start a read of the body from Go: 0, or -1 with StateError if
 * another thread is reading it.  Call inside the critical section, and
 * end_read after. */
static int
begin_read(RequestObject *self)
{
    if (self->reading) {
        PyErr_SetString(gohttp_exc.StateError,
            "another thread is reading this request's body: read it from "
            "one thread at a time");
        return -1;
    }
    self->reading = 1;
    return 0;
}

static void
end_read(RequestObject *self)
{
    self->reading = 0;
}

/* Read up to n bytes of the body from Go into a new bytes object (new
 * reference), without the GIL.  Returns fewer than n only at the end.
 * Call between begin_read and end_read.  self->req is not used: the
 * handler may return meanwhile (then Go refuses the call). */
static PyObject *
read_from_go(RequestObject *self, Py_ssize_t n)
{
    if (self->body_over || n == 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    PyObject *buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL) {
        return NULL;
    }
    uintptr_t call = self->call;
    uint64_t generation = self->generation;
    char *p = PyBytes_AS_STRING(buf);
    gohttp_error err;
    size_t got = 0;
    gohttp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = gohttp_call_read(call, generation, p, (size_t)n, &got, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        Py_DECREF(buf);
        gohttp_raise(status, &err);
        return NULL;
    }
    self->body_read += (int64_t)got;
    if ((Py_ssize_t)got < n) {
        self->body_over = 1;
        if (_PyBytes_Resize(&buf, (Py_ssize_t)got) < 0) {
            return NULL;
        }
    }
    return buf;
}

/* Join a list of bytes into one bytes object: a new reference. */
static PyObject *
join_chunks(PyObject *chunks)
{
    PyObject *result = NULL, *empty = PyBytes_FromStringAndSize(NULL, 0);
    if (empty != NULL) {
        result = PyObject_CallMethod(empty, "join", "O", chunks);
        Py_DECREF(empty);
    }
    return result;
}

/* The most read() allocates at once for a body of unknown length: a
 * read(1 << 40) of a small chunked upload must not ask for a terabyte. */
#define READ_STEP (1 << 20)

/* Read up to n bytes of a body of unknown length: a new reference. */
static PyObject *
read_unknown_length(RequestObject *self, Py_ssize_t n)
{
    if (n <= READ_STEP) {
        return read_from_go(self, n);
    }
    PyObject *chunks = PyList_New(0), *result = NULL;
    if (chunks == NULL) {
        return NULL;
    }
    while (n > 0 && !self->body_over) {
        PyObject *chunk = read_from_go(self, n < READ_STEP ? n : READ_STEP);
        if (chunk == NULL || PyList_Append(chunks, chunk) < 0) {
            Py_XDECREF(chunk);
            goto done;
        }
        n -= PyBytes_GET_SIZE(chunk);
        Py_DECREF(chunk);
    }
    result = join_chunks(chunks);
done:
    Py_DECREF(chunks);
    return result;
}

/* Read the rest of the body from Go: a new reference. */
static PyObject *
read_rest_from_go(RequestObject *self)
{
    int64_t length = self->req->content_length;
    if (length >= 0) {
        int64_t left = length - self->body_read;
        if (left > PY_SSIZE_T_MAX) {
            return PyErr_NoMemory();
        }
        return read_from_go(self, left > 0 ? (Py_ssize_t)left : 0);
    }
    /* Unknown length (chunked): gather growing chunks. */
    PyObject *chunks = PyList_New(0), *result = NULL;
    Py_ssize_t size = 64 * 1024;
    if (chunks == NULL) {
        return NULL;
    }
    while (!self->body_over) {
        PyObject *chunk = read_from_go(self, size);
        if (chunk == NULL || PyList_Append(chunks, chunk) < 0) {
            Py_XDECREF(chunk);
            goto done;
        }
        Py_DECREF(chunk);
        if (size < 4 * 1024 * 1024) {
            size *= 2;
        }
    }
    result = join_chunks(chunks);
done:
    Py_DECREF(chunks);
    return result;
}

static PyObject *
get_body(PyObject *op, void *closure)
{
    RequestObject *self = Request_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) < 0) {
        /* finished */
    }
    else if (self->body != NULL) {
        result = Py_NewRef(self->body);
    }
    else if (begin_read(self) == 0) {
        PyObject *body = read_rest_from_go(self);
        end_read(self);
        if (body != NULL) {
            Py_XSETREF(self->body, body);
            self->body_pos = PyBytes_GET_SIZE(body);
            result = Py_NewRef(body);
        }
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

PyDoc_STRVAR(read_doc,
"read(size=-1, /)\n--\n\n"
"Read up to size bytes of the request body; all that is left if size is\n"
"negative.  Returns fewer than size bytes only at the end of the body,\n"
"and b'' after it.  Streams from Go without buffering the whole body.");

static PyObject *
request_read(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    RequestObject *self = Request_CAST(op);
    Py_ssize_t size = -1;
    PyObject *result = NULL;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "read() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    if (nargs == 1 && args[0] != Py_None) {
        size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (size == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) < 0) {
        goto done;
    }
    if (self->body != NULL) {   /* .body was read: serve from it */
        Py_ssize_t left = PyBytes_GET_SIZE(self->body) - self->body_pos;
        Py_ssize_t n = size < 0 || size > left ? left : size;
        result = PyBytes_FromStringAndSize(
            PyBytes_AS_STRING(self->body) + self->body_pos, n);
        if (result != NULL) {
            self->body_pos += n;
        }
    }
    else if (begin_read(self) < 0) {
        goto done;
    }
    else if (size < 0) {
        result = read_rest_from_go(self);
        end_read(self);
    }
    else {
        int64_t length = self->req->content_length;
        if (length < 0) {
            result = read_unknown_length(self, size);
        }
        else {
            if ((int64_t)size > length - self->body_read) {
                size = (Py_ssize_t)(length - self->body_read);
            }
            result = read_from_go(self, size);
        }
        end_read(self);
    }
done:
    Py_END_CRITICAL_SECTION();
    return result;
}

PyDoc_STRVAR(path_value_doc,
"path_value(name, /)\n--\n\n"
"The value of the wildcard name in the route's pattern, percent-decoded:\n"
"for the pattern 'GET /items/{id}' and the path /items/42,\n"
"req.path_value('id') == '42'.  As in Go, '' if the pattern has no such\n"
"wildcard.");

static PyObject *
request_path_value(PyObject *op, PyObject *name)
{
    RequestObject *self = Request_CAST(op);
    PyObject *result = NULL;
    Py_ssize_t name_len;
    const char *name_s;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError,
                     "path_value() argument must be str, not %.200s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    name_s = PyUnicode_AsUTF8AndSize(name, &name_len);
    if (name_s == NULL) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        Py_ssize_t unused;
        const char *p = span_ptr(self, GOHTTP_F_PATH_VALUES, &unused);
        for (uint32_t i = 0; i < self->req->path_value_count; i++) {
            Py_ssize_t klen, vlen;
            const char *k = gohttp_next_item(&p, &klen);
            const char *v = gohttp_next_item(&p, &vlen);
            if (klen == name_len && memcmp(k, name_s, klen) == 0) {
                result = decode_utf8(v, vlen);
                goto done;
            }
        }
        result = PyUnicode_New(0, 0);
    }
done:
    Py_END_CRITICAL_SECTION();
    return result;
}

static PyObject *
request_repr(PyObject *op)
{
    RequestObject *self = Request_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (self->req == NULL) {
        result = PyUnicode_FromString("<gohttp.Request (finished)>");
    }
    else {
        Py_ssize_t mlen, ulen;
        const char *m = span_ptr(self, GOHTTP_F_METHOD, &mlen);
        const char *u = span_ptr(self, GOHTTP_F_URL, &ulen);
        PyObject *method = decode_utf8(m, mlen);
        PyObject *url = method ? decode_utf8(u, ulen) : NULL;
        if (url != NULL) {
            result = PyUnicode_FromFormat("<gohttp.Request %U %R>",
                                          method, url);
        }
        Py_XDECREF(method);
        Py_XDECREF(url);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

#define FIELD(name, field, doc) \
    {name, get_field, NULL, PyDoc_STR(doc), (void *)(intptr_t)(field)}

static PyGetSetDef request_getset[] = {
    FIELD("method", GOHTTP_F_METHOD, "The request method: 'GET', 'POST', ..."),
    FIELD("url", GOHTTP_F_URL,
          "The request-target as sent, path and query: '/a%20b?x=1'."),
    FIELD("path", GOHTTP_F_PATH, "The path, percent-decoded: '/a b'."),
    FIELD("query", GOHTTP_F_QUERY,
          "The raw query string, without '?': 'x=1'; '' if none."),
    FIELD("host", GOHTTP_F_HOST,
          "The Host header (HTTP/1.1) or :authority (HTTP/2)."),
    FIELD("proto", GOHTTP_F_PROTO, "The protocol: 'HTTP/1.1', 'HTTP/2.0'."),
    FIELD("remote_addr", GOHTTP_F_REMOTE_ADDR,
          "The client's address, 'ip:port' ('[ip]:port' for IPv6)."),
    FIELD("scheme", GOHTTP_F_SCHEME,
          "'https' if the request came over TLS (or a trusted proxy says "
          "so with X-Forwarded-Proto), else 'http'."),
    {"headers", get_headers, NULL,
     PyDoc_STR("The request headers: a read-only, case-insensitive, "
               "multi-valued gohttp.Headers."), NULL},
    {"tls", get_tls, NULL,
     PyDoc_STR("None for a cleartext request; under TLS a read-only "
               "mapping: 'version' ('TLSv1.3'), 'cipher' (Go's name of the "
               "suite), 'server_name' (SNI, or None), 'alpn' ('h2', "
               "'http/1.1' or None), 'client_cert_chain' (a tuple of DER "
               "bytes, the client's certificate first and the trusted CA "
               "last; () if it sent none).  A certificate in the chain "
               "was verified against ssl_ca_certs."), NULL},
    {"content_length", get_content_length, NULL,
     PyDoc_STR("The body's length from Content-Length, or None if unknown "
               "(chunked)."), NULL},
    {"body", get_body, NULL,
     PyDoc_STR("The whole request body as bytes, read from the client on "
               "first access (what read() left of it)."), NULL},
    {NULL},
};

static PyMethodDef request_methods[] = {
    {"read", (PyCFunction)(void (*)(void))request_read, METH_FASTCALL,
     read_doc},
    {"path_value", request_path_value, METH_O, path_value_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(request_doc,
"An HTTP request, as a handler receives it: handler(w, req).\n\n"
"Valid only until the handler returns; afterwards every attribute raises\n"
"gohttp.RequestFinishedError (a RuntimeError).  Not created from Python.");

static PyType_Slot request_slots[] = {
    {Py_tp_dealloc, request_dealloc},
    {Py_tp_repr, request_repr},
    {Py_tp_getset, request_getset},
    {Py_tp_methods, request_methods},
    {Py_tp_doc, (void *)request_doc},
    {0, NULL},
};

PyType_Spec gohttp_request_spec = {
    .name = "gohttp.Request",
    .basicsize = sizeof(RequestObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = request_slots,
};
