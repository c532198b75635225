/*
 * response.c — gohttp.ResponseWriter, how a handler answers.
 *
 * A small response does not cross to Go while the handler runs: the
 * status, the headers and the body bytes are held back in the reply
 * buffer Go lent for the call (bridge.h, gohttp_reply), and Go sends them
 * once the handler has returned.  A hello world thus costs no call from C
 * into Go at all.  What does not fit, or must reach Go at once (flush(),
 * send_file(), a 1xx status, a write the body-size rules could refuse),
 * crosses in calls: first what is held, with the status and headers in
 * one call (gohttp_call_write_header), then the body bytes of each
 * write().  The GIL is released for a write that may reach the socket, so
 * a slow client does not stall other handlers.  send_file() hands Go a
 * file descriptor: Go copies the file to the client (with sendfile(2)
 * where it can), and no byte of it passes through C or Python.
 *
 * Threads: a handler may hand w to other threads.  The fields are read
 * and changed in the object's critical section; w.header's map is read in
 * the critical sections of the Headers and of its dict (headers.c changes
 * the lists under the first, Python code that writes _map under the
 * second).  A write that waits in Go without the GIL suspends the critical
 * section, so another thread may write meanwhile: Go, which locks each
 * call, keeps the response consistent (one status line, the
 * Content-Length honoured), and started and written here only count.
 */
#include "module.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Go buffers the first bytes of a body (net/http's
 * bufferBeforeChunkingSize) without touching the socket: writes that stay
 * within it cannot block, so they keep the GIL and skip two GIL handoffs. */
#define GO_BODY_BUFFER 2048

typedef struct {
    PyObject_HEAD
    gohttp_state *state;     /* borrowed: the type keeps the module alive */
    uintptr_t call;          /* the Go call; 0 once released */
    uint64_t generation;
    gohttp_reply *reply;     /* borrowed from Go until released */
    char *reply_buf;         /* borrowed from Go until released */
    PyObject *header;        /* Headers, made on first access, or NULL */
    int started;             /* the status and headers are final */
    int held;                /* ...and wait in reply, with some body */
    int64_t declared;        /* the held Content-Length, or -1 */
    int64_t written;         /* body bytes written (or held) so far */
} ResponseWriterObject;

#define Response_CAST(op) ((ResponseWriterObject *)(op))

static int
check_live(ResponseWriterObject *self)
{
    if (self->call == 0) {
        PyErr_SetString(gohttp_exc.RequestFinishedError,
            "the request is finished: a ResponseWriter is valid only "
            "until its handler returns");
        return -1;
    }
    return 0;
}

PyObject *
gohttp_response_new(gohttp_state *st, const gohttp_request *req,
                    gohttp_reply *reply, char *reply_buf)
{
    ResponseWriterObject *self = PyObject_New(ResponseWriterObject,
                                              st->ResponseWriterType);
    if (self == NULL) {
        return NULL;
    }
    self->state = st;
    self->call = req->call;
    self->generation = req->generation;
    self->reply = reply;
    self->reply_buf = reply_buf;
    self->header = NULL;
    self->started = 0;
    self->held = 0;
    self->declared = -1;
    self->written = 0;
    return (PyObject *)self;   /* new reference */
}

void
gohttp_response_release(PyObject *op)
{
    Py_BEGIN_CRITICAL_SECTION(op);
    Response_CAST(op)->call = 0;
    Response_CAST(op)->reply = NULL;
    Response_CAST(op)->reply_buf = NULL;
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
 * capacity bytes, or only size it when buf is NULL.  Returns 0; 1 if it
 * does not fit (no exception set; what buf holds is then meaningless); or
 * -1 with an exception set. */
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
            /* A strong reference: code that appends to the list itself
             * holds neither of the callers' locks. */
            PyObject *value = PyList_GetItemRef(values, j);   /* new */
            if (value == NULL) {
                return -1;   /* IndexError: the list shrank meanwhile */
            }
            const char *v = latin1_bytes(value, &vlen);
            int rc = v == NULL ? -1 : 0;
            if (v != NULL && (gohttp_put_item(buf, capacity, size, k, klen) < 0
                              || gohttp_put_item(buf, capacity, size, v, vlen) < 0)) {
                rc = 1;
            }
            Py_DECREF(value);   /* v was copied into buf, or only counted */
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Send the status code, the headers packed in headers[:size] and the
 * first n bytes of the body (n may be 0) in one call, and store how many
 * body bytes went in *written.  Returns 0, or -1 with an exception set. */
static int
commit_packed(ResponseWriterObject *self, int code, char *headers,
              size_t size, const char *body, size_t n, size_t *written)
{
    gohttp_error err;
    gohttp_status status;
    int sent = 0;

    *written = 0;
    if (n <= GO_BODY_BUFFER) {
        /* Go only buffers: the socket is not touched. */
        status = gohttp_call_write_header(self->call, self->generation, code,
                                          headers, size, (char *)body, n,
                                          written, &sent, &err);
    }
    else {
        uintptr_t call = self->call;
        uint64_t generation = self->generation;
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_call_write_header(call, generation, code, headers,
                                          size, (char *)body, n, written,
                                          &sent, &err);
        Py_END_ALLOW_THREADS
    }
    self->written += (int64_t)*written;
    if (sent && (code >= 200 || code == 101)) {
        self->started = 1;   /* even if the body part failed */
    }
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err);
    }
    if (code >= 200 || code == 101) {
        self->started = 1;
    }
    return 0;
}

/* commit_packed with the headers of w.header. */
static int
commit(ResponseWriterObject *self, int code, const char *body, size_t n,
       size_t *written)
{
    PyObject *map = NULL;
    char stack[1024], *buf = stack;
    size_t size = 0;
    int rc = -1;

    if (self->header != NULL) {
        map = Py_NewRef(gohttp_headers_map(self->header));
        int packed = -1;
        Py_BEGIN_CRITICAL_SECTION2(self->header, map);
        if (pack_headers(map, NULL, 0, &size) == 0) {
            size_t capacity = size > sizeof stack ? size : sizeof stack;
            if (size > sizeof stack && (buf = PyMem_Malloc(size)) == NULL) {
                buf = stack;
                PyErr_NoMemory();
            }
            else {
                packed = pack_headers(map, buf, capacity, &size);
            }
        }
        Py_END_CRITICAL_SECTION2();
        if (packed == 1) {
            PyErr_SetString(gohttp_exc.StateError,
                            "w.header changed while it was being sent");
        }
        if (packed != 0) {
            goto done;
        }
    }
    rc = commit_packed(self, code, buf, size, body, n, written);
done:
    if (buf != stack) {
        PyMem_Free(buf);
    }
    Py_XDECREF(map);
    return rc;
}

/* ---- holding a small response back ------------------------------------- */

/* The Content-Length of the header map, which a held response must not
 * pass: 1 with *length set (-1 if there is none); 0 if the header is there
 * but not one plain number (Go is the judge of it: do not hold); -1 with
 * an exception set. */
static int
held_length(gohttp_state *st, PyObject *map, int64_t *length)
{
    PyObject *values = PyDict_GetItemWithError(map, st->str_content_length);
    *length = -1;
    if (values == NULL) {                               /* borrowed */
        return PyErr_Occurred() ? -1 : 1;
    }
    if (!PyList_Check(values) || PyList_GET_SIZE(values) != 1) {
        return 0;
    }
    PyObject *value = PyList_GetItemRef(values, 0);   /* new: see pack_headers */
    if (value == NULL) {
        PyErr_Clear();   /* the list emptied meanwhile: let Go judge */
        return 0;
    }
    int usable = PyUnicode_Check(value) && PyUnicode_IS_ASCII(value);
    const char *s = usable ? (const char *)PyUnicode_1BYTE_DATA(value) : "";
    Py_ssize_t n = usable ? PyUnicode_GET_LENGTH(value) : 0;
    int64_t v = 0;
    usable = usable && n > 0 && n <= 18;
    for (Py_ssize_t i = 0; usable && i < n; i++) {
        usable = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (s[i] - '0');
    }
    Py_DECREF(value);
    if (usable) {
        *length = v;
    }
    return usable;
}

/* Hold the response back for Go to send when the handler returns: status
 * code, the headers packed in headers[:size], whose Content-Length is
 * declared (-1 if none), and the n body bytes at body (bridge.h,
 * gohttp_reply).  Returns 1 if held; 0 if it cannot be (it does not fit,
 * or Go may refuse the body: send it now instead), with nothing changed. */
static int
hold_packed(ResponseWriterObject *self, int code, const char *headers,
            size_t size, int64_t declared, const char *body, size_t n)
{
    gohttp_reply *reply = self->reply;
    if (reply == NULL || code < 200
        || (n > 0 && (code == 204 || code == 304))
        || (declared >= 0 && (int64_t)n > declared)
        || size > reply->capacity || n > reply->capacity - size) {
        return 0;
    }
    memcpy(self->reply_buf, headers, size);
    if (n > 0) {
        memcpy(self->reply_buf + size, body, n);
    }
    reply->header_len = (uint32_t)size;
    reply->body_len = (uint32_t)n;
    reply->status = code;
    self->held = self->started = 1;
    self->declared = declared;
    self->written += (int64_t)n;
    return 1;
}

/* hold_packed with the headers of w.header: 1 if held, 0 if not, -1
 * with an exception set. */
static int
hold(ResponseWriterObject *self, int code, const char *body, size_t n)
{
    gohttp_reply *reply = self->reply;
    char headers[4096];   /* Go's replySize */
    size_t size = 0;
    int64_t declared = -1;

    if (reply == NULL) {
        return 0;
    }
    if (self->header != NULL) {
        /* Packed into headers first, not into reply_buf: taking the two
         * locks may suspend this object's critical section, and the
         * handler may return meanwhile and Go take its buffer back. */
        PyObject *map = gohttp_headers_map(self->header);   /* borrowed */
        size_t capacity = reply->capacity < sizeof headers ? reply->capacity
                                                           : sizeof headers;
        int usable, packed = 0;
        Py_BEGIN_CRITICAL_SECTION2(self->header, map);
        usable = held_length(self->state, map, &declared);
        if (usable > 0 && (declared < 0 || (int64_t)n <= declared)) {
            packed = pack_headers(map, headers, capacity, &size);
        }
        Py_END_CRITICAL_SECTION2();
        if (usable <= 0) {
            return usable;
        }
        if (packed != 0) {
            return packed == 1 ? 0 : -1;
        }
        if (self->reply != reply) {
            return 0;   /* released meanwhile: the caller's call to Go fails */
        }
    }
    return hold_packed(self, code, headers, size, declared, body, n);
}

/* Add n more body bytes to the held response.  1 if they were added, 0 if
 * they cannot be (nothing changed). */
static int
hold_more(ResponseWriterObject *self, const char *body, size_t n)
{
    gohttp_reply *reply = self->reply;
    size_t used = (size_t)reply->header_len + reply->body_len;
    if ((n > 0 && (reply->status == 204 || reply->status == 304))
        || n > reply->capacity - used
        || (self->declared >= 0
            && (int64_t)(reply->body_len + n) > self->declared)) {
        return 0;
    }
    memcpy(self->reply_buf + used, body, n);
    reply->body_len += (uint32_t)n;
    self->written += (int64_t)n;
    return 1;
}

/* Send the held response to Go now, if there is one.  Returns 0, or -1
 * with an exception set. */
static int
release_held(ResponseWriterObject *self)
{
    gohttp_reply *reply = self->reply;
    if (!self->held) {
        return 0;
    }
    int code = reply->status;
    size_t headers_len = reply->header_len, body_len = reply->body_len;
    const char *buf = self->reply_buf;
    uintptr_t call = self->call;
    uint64_t generation = self->generation;
    size_t written = 0;
    int sent = 0;
    gohttp_error err;
    gohttp_status status;

    self->held = 0;
    reply->status = 0;   /* Go must not send it again */
    if (body_len <= GO_BODY_BUFFER) {
        status = gohttp_call_write_header(call, generation, code,
                                          (char *)buf, headers_len,
                                          (char *)buf + headers_len,
                                          body_len, &written, &sent, &err);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_call_write_header(call, generation, code,
                                          (char *)buf, headers_len,
                                          (char *)buf + headers_len,
                                          body_len, &written, &sent, &err);
        Py_END_ALLOW_THREADS
    }
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err);
    }
    return 0;
}

static PyObject *
get_header(PyObject *op, void *closure)
{
    ResponseWriterObject *self = Response_CAST(op);
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0) {
        if (self->header == NULL) {
            self->header = gohttp_headers_new(self->state);
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

/* write_header(code) with the critical section held: 0, or -1 with an
 * exception set. */
static int
start(ResponseWriterObject *self, int code)
{
    size_t unused;
    if (check_live(self) < 0) {
        return -1;
    }
    if (self->started) {
        PyErr_SetString(gohttp_exc.StateError,
            "the response has already started: write_header() must "
            "come before write() and flush(), and only once");
        return -1;
    }
    int held = hold(self, code, NULL, 0);
    if (held != 0) {
        return held == 1 ? 0 : -1;
    }
    return commit(self, code, NULL, 0, &unused);
}

static int
response_start(PyObject *op, int code)
{
    int rc;
    Py_BEGIN_CRITICAL_SECTION(op);
    rc = start(Response_CAST(op), code);
    Py_END_CRITICAL_SECTION();
    return rc;
}

int
gohttp_response_start_packed(PyObject *op, int code, char *headers,
                             size_t size, int64_t declared)
{
    ResponseWriterObject *self = Response_CAST(op);
    size_t unused;
    int rc = -1;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0 && self->header == NULL && !self->started) {
        rc = hold_packed(self, code, headers, size, declared, NULL, 0) == 1
             ? 0 : commit_packed(self, code, headers, size, NULL, 0, &unused);
    }
    else if (!PyErr_Occurred()) {
        PyErr_SetString(gohttp_exc.StateError, "gohttp_response_start_packed: "
                        "the response has headers or has started already");
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyObject *
response_write_header(PyObject *op, PyObject *arg)
{
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
    if (response_start(op, (int)code) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* write(p[:n]) with the critical section held: 0 with *written set, or
 * -1 with an exception set.  p stays valid: the caller holds its owner. */
static int
write_body(ResponseWriterObject *self, const char *p, Py_ssize_t n,
           size_t *written)
{
    *written = 0;
    if (check_live(self) < 0) {
        return -1;
    }
    if (!self->started) {
        int held = hold(self, 200, p, (size_t)n);
        if (held != 0) {
            *written = held == 1 ? (size_t)n : 0;
            return held == 1 ? 0 : -1;
        }
        /* status, headers and data in one crossing */
        return commit(self, 200, p, (size_t)n, written);
    }
    if (self->held) {
        if (hold_more(self, p, (size_t)n)) {
            *written = (size_t)n;
            return 0;
        }
        if (release_held(self) < 0) {
            return -1;
        }
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
                                   written, &err);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_call_write(call, generation, (char *)p, (size_t)n,
                                   written, &err);
        Py_END_ALLOW_THREADS
    }
    self->written += (int64_t)*written;
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err);
    }
    return 0;
}

int
gohttp_response_write(PyObject *op, const char *p, Py_ssize_t n)
{
    size_t written;
    int rc;
    Py_BEGIN_CRITICAL_SECTION(op);
    rc = write_body(Response_CAST(op), p, n, &written);
    Py_END_CRITICAL_SECTION();
    return rc;
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

    size_t written = 0;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (write_body(self, p, n, &written) == 0) {
        result = PyLong_FromSize_t(written);
    }
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
    size_t no_body;
    if (check_live(self) < 0 || release_held(self) < 0
        || (!self->started && commit(self, 200, NULL, 0, &no_body) < 0)) {
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

/* The file descriptor send_file() was given: file itself if an int, else
 * what its fileno() returns.  -1 with TypeError if file has none (such as
 * io.BytesIO, whose fileno() raises io.UnsupportedOperation, an OSError). */
static int
file_descriptor(gohttp_state *st, PyObject *file)
{
    PyObject *fileno = NULL, *number = NULL;
    int fd = -1;

    if (PyLong_Check(file)) {
        number = Py_NewRef(file);
    }
    else {
        fileno = PyObject_GetAttr(file, st->str_fileno);
        if (fileno != NULL) {
            number = PyObject_CallNoArgs(fileno);
        }
        if (number == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError)
                || PyErr_ExceptionMatches(PyExc_OSError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError,
                    "send_file() needs a file descriptor (an int) or a file "
                    "opened on one, with a working fileno(), not %.200s: "
                    "send data held in memory with write()",
                    Py_TYPE(file)->tp_name);
            }
            goto done;
        }
        if (!PyLong_Check(number)) {
            PyErr_Format(PyExc_TypeError,
                         "%.200s.fileno() returned %.200s, not an int",
                         Py_TYPE(file)->tp_name, Py_TYPE(number)->tp_name);
            goto done;
        }
    }
    int overflow;
    long value = PyLong_AsLongAndOverflow(number, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (overflow || value < 0 || value > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "invalid file descriptor %R", number);
        goto done;
    }
    fd = (int)value;
done:
    Py_XDECREF(fileno);
    Py_XDECREF(number);
    return fd;
}

/* Refuse, while a mistake can still be a clean 500, a descriptor that
 * cannot be sent: closed, a directory, open for writing only, or not
 * seekable (a pipe, a socket).  Returns 0, or -1 with an OSError set. */
static int
check_readable(int fd)
{
    struct stat st;
    gohttp_error err = {0};
    int flags;

    if (fstat(fd, &st) < 0 || (flags = fcntl(fd, F_GETFL)) < 0) {
        err.sys_errno = errno;
        PyOS_snprintf(err.message, sizeof err.message,
                      "send_file(): fd %d: %s", fd, strerror(errno));
    }
    else if (S_ISDIR(st.st_mode)) {
        err.sys_errno = EISDIR;
        PyOS_snprintf(err.message, sizeof err.message,
                      "send_file(): fd %d is a directory", fd);
    }
    else if ((flags & O_ACCMODE) == O_WRONLY) {
        err.sys_errno = EBADF;
        PyOS_snprintf(err.message, sizeof err.message,
                      "send_file(): fd %d is open for writing only: open "
                      "the file for reading (\"rb\")", fd);
    }
    else if (lseek(fd, 0, SEEK_CUR) < 0) {
        err.sys_errno = errno;
        PyOS_snprintf(err.message, sizeof err.message,
                      "send_file(): fd %d: %s: send_file() sends files that "
                      "can seek; read from pipes and sockets, and write() "
                      "what you read", fd, strerror(errno));
    }
    else {
        return 0;
    }
    return gohttp_raise(GOHTTP_EIO, &err);
}

PyDoc_STRVAR(send_file_doc,
"send_file(file, offset=0, count=None)\n--\n\n"
"Send count bytes of file, from offset (count None: to the end of the\n"
"file), as part of the response body, and return the number of bytes\n"
"sent.  file is a file descriptor or a file object opened on one (it has\n"
"fileno()), open for reading and seekable (not a pipe or socket).  It\n"
"stays open, its file offset after the last byte sent (a file object's\n"
"own buffer is not updated: seek() before reading it again).  Like\n"
"write(), the first call sends the status and headers.  Go copies the\n"
"file without Python, with sendfile(2) when the response has a\n"
"Content-Length and goes over cleartext HTTP/1.x.  Raises\n"
"BrokenPipeError (an OSError) if the client has gone away, ValueError if\n"
"the file is longer than the Content-Length allows.\n\n"
"    with open(path, \"rb\") as f:\n"
"        w.header.set(\"Content-Length\", str(os.fstat(f.fileno()).st_size))\n"
"        w.send_file(f)");

static PyObject *
response_send_file(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"file", "offset", "count", NULL};
    ResponseWriterObject *self = Response_CAST(op);
    PyObject *file, *count_arg = Py_None, *result = NULL;
    long long offset = 0, count = -1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|LO:send_file", kwlist,
                                     &file, &offset, &count_arg)) {
        return NULL;
    }
    if (offset < 0) {
        PyErr_Format(PyExc_ValueError,
                     "send_file() offset must be >= 0, not %lld", offset);
        return NULL;
    }
    if (count_arg != Py_None) {
        if (!PyIndex_Check(count_arg)) {
            PyErr_Format(PyExc_TypeError,
                         "send_file() count must be an int or None (to the "
                         "end of the file), not %.200s",
                         Py_TYPE(count_arg)->tp_name);
            return NULL;
        }
        PyObject *number = PyNumber_Index(count_arg);   /* new reference */
        if (number == NULL) {
            return NULL;
        }
        count = PyLong_AsLongLong(number);
        Py_DECREF(number);
        if (count == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (count < 0) {
            PyErr_Format(PyExc_ValueError,
                         "send_file() count must be >= 0, or None for the "
                         "rest of the file, not %lld", count);
            return NULL;
        }
    }
    int fd = file_descriptor(self->state, file);
    if (fd < 0) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(op);
    size_t unused;
    if (check_live(self) < 0 || check_readable(fd) < 0
        || release_held(self) < 0
        || (!self->started && commit(self, 200, NULL, 0, &unused) < 0)) {
        goto done;
    }
    uintptr_t call = self->call;
    uint64_t generation = self->generation;
    int64_t written = 0;
    gohttp_error err;
    gohttp_status status;
    /* Go reads fd through a duplicate it makes at once; file stays alive
     * (the caller holds it), and fd open unless another thread closes it. */
    Py_BEGIN_ALLOW_THREADS
    status = gohttp_call_send_file(call, generation, fd, offset, count,
                                   &written, &err);
    Py_END_ALLOW_THREADS
    self->written += written;
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    result = PyLong_FromLongLong(written);
done:
    Py_END_CRITICAL_SECTION();
    return result;
}

/* Called when the handler returned normally: hold back (or else send)
 * headers that were set but never sent; what is held, Go sends.  Returns
 * 0, or -1 with an exception set. */
int
gohttp_response_finish(PyObject *op)
{
    ResponseWriterObject *self = Response_CAST(op);
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (self->call != 0 && !self->started && self->header != NULL) {
        size_t unused;
        rc = hold(self, 200, NULL, 0);
        if (rc == 0) {
            rc = commit(self, 200, NULL, 0, &unused);
        }
        else if (rc == 1) {
            rc = 0;
        }
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyObject *
response_repr(PyObject *op)
{
    ResponseWriterObject *self = Response_CAST(op);
    const char *what;
    Py_BEGIN_CRITICAL_SECTION(op);
    what = self->call == 0 ? "(finished)"
           : self->started ? "(started)" : "(new)";
    Py_END_CRITICAL_SECTION();
    return PyUnicode_FromFormat("<gohttp.ResponseWriter %s>", what);
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
    {"send_file", (PyCFunction)(void (*)(void))response_send_file,
     METH_VARARGS | METH_KEYWORDS, send_file_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(response_doc,
"How a handler writes its response: handler(w, req).\n\n"
"Set headers in w.header, then optionally w.write_header(code), then\n"
"w.write(data) or w.send_file(file) as often as needed.  Valid only\n"
"until the handler returns; afterwards every method raises\n"
"gohttp.RequestFinishedError (a RuntimeError).  Not created from Python.");

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
