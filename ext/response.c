/*
 * response.c — gohttp.ResponseWriter, how a handler answers.
 *
 * A thin Python type over the writer (writer.h), which C handlers use
 * too: a small response is held in the reply buffer Go lent for the call
 * and costs no call from C into Go at all; the rest crosses in calls,
 * without the GIL when they may reach the socket, so a slow client does
 * not stall other handlers.  What is Python's is here: the arguments,
 * w.header (a Headers, packed for the writer when the response starts),
 * and the exceptions.  send_file() hands Go a file descriptor: Go copies
 * the file to the client (with sendfile(2) where it can), and no byte of
 * it passes through C or Python.
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
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    gohttp_state *state;     /* borrowed: the type keeps the module alive */
    gohttp_writer out;       /* borrows Go's reply until released */
    PyObject *header;        /* Headers, made on first access, or NULL */
} ResponseWriterObject;

#define Response_CAST(op) ((ResponseWriterObject *)(op))

static int
check_live(ResponseWriterObject *self)
{
    if (self->out.call == 0) {
        PyErr_SetString(gohttp_exc.RequestFinishedError,
            "the request is finished: a ResponseWriter is valid only "
            "until its handler returns");
        return -1;
    }
    return 0;
}

/* The writer lets go of the GIL around a call into Go that may block. */
static void *
save_thread(void)
{
    return PyEval_SaveThread();
}

static void
restore_thread(void *tstate)
{
    PyEval_RestoreThread(tstate);
}

static const gohttp_unlocker release_gil = {save_thread, restore_thread};

PyObject *
gohttp_response_new(gohttp_state *st, const gohttp_request *req,
                    gohttp_reply *reply, char *reply_buf)
{
    ResponseWriterObject *self = (ResponseWriterObject *)st->spare_writer;
    if (self != NULL) {
        st->spare_writer = NULL;   /* released, no header: see below */
    }
    else if ((self = PyObject_New(ResponseWriterObject,
                                  st->ResponseWriterType)) == NULL) {
        return NULL;
    }
    self->state = st;
    gohttp_writer_init(&self->out, req, reply, reply_buf, &release_gil);
    self->header = NULL;
    return (PyObject *)self;   /* new reference */
}

void
gohttp_response_release(PyObject *op)
{
    Py_BEGIN_CRITICAL_SECTION(op);
    gohttp_writer_end(&Response_CAST(op)->out);
    Py_END_CRITICAL_SECTION();
}

/* A released writer no one else holds (the handler kept no reference) is
 * kept, without its w.header, for the next request: an allocation and a
 * free less per request.  Free-threaded builds, where requests run at
 * once and references are counted per thread, let it go. */
void
gohttp_response_done(PyObject *op)
{
    gohttp_response_release(op);
#ifndef Py_GIL_DISABLED
    gohttp_state *st = Response_CAST(op)->state;
    if (st->spare_writer == NULL && Py_REFCNT(op) == 1) {
        /* Dropping the header may run Python code (a __del__) that lets
         * another request in, which may spare its own: look again. */
        PyObject *header = Response_CAST(op)->header;
        Response_CAST(op)->header = NULL;
        if (header != NULL) {
            gohttp_headers_done(st, header);
        }
        if (st->spare_writer == NULL) {
            st->spare_writer = op;   /* our reference moves there */
            return;
        }
    }
#endif
    Py_DECREF(op);
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

/* The Content-Length the header map declares (writer.h): a number,
 * GOHTTP_LENGTH_NONE or GOHTTP_LENGTH_UNKNOWN, in *length.  0, or -1 with
 * an exception set. */
static int
declared_length(gohttp_state *st, PyObject *map, int64_t *length)
{
    PyObject *values = PyDict_GetItemWithError(map, st->str_content_length);
    *length = GOHTTP_LENGTH_NONE;
    if (values == NULL) {                               /* borrowed */
        return PyErr_Occurred() ? -1 : 0;
    }
    *length = GOHTTP_LENGTH_UNKNOWN;
    if (!PyList_Check(values) || PyList_GET_SIZE(values) != 1) {
        return 0;
    }
    PyObject *value = PyList_GetItemRef(values, 0);   /* new: see pack_headers */
    if (value == NULL) {
        PyErr_Clear();   /* the list emptied meanwhile: let Go judge */
        return 0;
    }
    if (PyUnicode_Check(value) && PyUnicode_IS_ASCII(value)) {
        *length = gohttp_content_length(
            (const char *)PyUnicode_1BYTE_DATA(value),
            (size_t)PyUnicode_GET_LENGTH(value));
    }
    Py_DECREF(value);
    return 0;
}

/* pack_headers into stack (GOHTTP_REPLY_SIZE bytes), with the Content-Length
 * map declares in *declared: 0, 1 or -1 as pack_headers. */
static int
pack_map(gohttp_state *st, PyObject *map, char *stack, size_t *size,
         int64_t *declared)
{
    int rc = declared_length(st, map, declared);
    return rc < 0 ? rc : pack_headers(map, stack, GOHTTP_REPLY_SIZE, size);
}

/* ---- the last headers packed (module.h, gohttp_packed) ----------------- */

void
gohttp_packed_clear(gohttp_packed *packed)
{
    for (int i = 0; i < 2 * packed->npairs; i++) {
        Py_CLEAR(packed->pair[i]);
    }
    packed->npairs = 0;
}

#ifndef Py_GIL_DISABLED
/* 1 if map holds the very strs packed last time, in the same order, with
 * those bytes copied to stack and *size and *declared set; else 0.  The
 * strs are compared by address: the slots hold them, so an address names
 * one object, and a str never changes.  Call in pack's critical sections. */
static int
packed_again(const gohttp_packed *last, PyObject *map, char *stack,
             size_t *size, int64_t *declared)
{
    PyObject *key, *values;
    Py_ssize_t pos = 0, keys = PyDict_GET_SIZE(map);
    int n = 0;
    if (last->npairs == 0) {
        return 0;
    }
    /* Counting keys saves the call that would find no more. */
    while (keys-- > 0 && PyDict_Next(map, &pos, &key, &values)) {
        if (!PyList_CheckExact(values)) {   /* borrowed, as key */
            return 0;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(values); j++, n++) {
            if (n == last->npairs || last->pair[2 * n] != key
                || last->pair[2 * n + 1] != PyList_GET_ITEM(values, j)) {
                return 0;
            }
        }
    }
    if (n != last->npairs) {
        return 0;
    }
    memcpy(stack, last->bytes, last->size);
    *size = last->size;
    *declared = last->declared;
    return 1;
}

/* Remember the strs of map, which packed to bytes[:size] declaring
 * declared, for packed_again; or forget the last ones if they do not fit
 * (more than GOHTTP_PACKED_PAIRS values, or bytes, or a str subclass).
 * Call in pack's critical sections. */
static void
remember_packed(gohttp_packed *last, PyObject *map, const char *bytes,
                size_t size, int64_t declared)
{
    PyObject *key, *values, *pair[2 * GOHTTP_PACKED_PAIRS];
    Py_ssize_t pos = 0;
    int n = 0;
    if (size > GOHTTP_PACKED_SIZE) {
        goto forget;
    }
    while (PyDict_Next(map, &pos, &key, &values)) {   /* borrowed */
        if (!PyList_CheckExact(values) || !PyUnicode_CheckExact(key)) {
            goto forget;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(values); j++, n++) {
            PyObject *value = PyList_GET_ITEM(values, j);
            if (n == GOHTTP_PACKED_PAIRS || !PyUnicode_CheckExact(value)) {
                goto forget;
            }
            pair[2 * n] = key;
            pair[2 * n + 1] = value;
        }
    }
    /* New references first: the old ones may be the same strs.  Dropping
     * an exact str runs no Python code. */
    for (int i = 0; i < 2 * n; i++) {
        Py_INCREF(pair[i]);
    }
    gohttp_packed_clear(last);
    memcpy(last->pair, pair, sizeof(PyObject *) * 2 * (size_t)n);
    memcpy(last->bytes, bytes, size);
    last->size = size;
    last->declared = declared;
    last->npairs = n;
    return;
forget:
    gohttp_packed_clear(last);
}
#endif

/* Pack w.header for the writer: into stack (GOHTTP_REPLY_SIZE bytes), or
 * into memory of their own if they do not fit there.  *out is where they
 * are (stack, or memory the caller frees with PyMem_Free), *size how many
 * bytes, *declared their Content-Length.  0, or -1 with an exception set.
 * Into stack first, not into reply_buf: taking the two locks may suspend
 * this object's critical section, and the handler may return meanwhile
 * and Go take its buffer back (the writer then holds nothing).  Headers
 * that are the very strs packed last time (a handler's literals) are not
 * packed again: their bytes are copied (packed_again). */
static int
pack(ResponseWriterObject *self, char *stack, char **out, size_t *size,
     int64_t *declared)
{
    char *own = NULL;
    int rc;
    *out = stack;
    *size = 0;
    *declared = GOHTTP_LENGTH_NONE;
    if (self->header == NULL) {
        return 0;
    }
    PyObject *map = gohttp_headers_map(self->header);   /* borrowed */
    Py_BEGIN_CRITICAL_SECTION2(self->header, map);
#ifndef Py_GIL_DISABLED
    gohttp_packed *last = &self->state->packed;
    if (packed_again(last, map, stack, size, declared)) {
        rc = 0;
    }
    else if ((rc = pack_map(self->state, map, stack, size, declared)) == 0) {
        remember_packed(last, map, stack, *size, *declared);
    }
#else
    rc = pack_map(self->state, map, stack, size, declared);
#endif
    if (rc == 1 && (rc = pack_headers(map, NULL, 0, size)) == 0) {
        /* Too large to hold: sized, then packed where they fit. */
        own = PyMem_Malloc(*size);
        rc = own == NULL ? (PyErr_NoMemory(), -1)
                         : pack_headers(map, own, *size, size);
    }
    Py_END_CRITICAL_SECTION2();
    if (rc == 1) {
        PyErr_SetString(gohttp_exc.StateError,
                        "w.header changed while it was being sent");
    }
    if (rc != 0) {
        PyMem_Free(own);
        return -1;
    }
    if (own != NULL) {
        *out = own;
    }
    return 0;
}

/* Start the response with code, w.header and the n body bytes at body:
 * held if it can be (writer.h).  Call in the critical section.  0 with
 * *written set, or -1 with an exception set. */
static int
start(ResponseWriterObject *self, int code, const char *body, size_t n,
      size_t *written)
{
    char stack[GOHTTP_REPLY_SIZE], *headers;
    size_t size;
    int64_t declared;
    gohttp_error err;
    int rc = 0;

    *written = 0;
    if (pack(self, stack, &headers, &size, &declared) < 0) {
        return -1;
    }
    gohttp_status status = gohttp_writer_start(&self->out, code, headers,
                                               size, declared, body, n,
                                               written, &err);
    if (status != GOHTTP_OK) {
        rc = gohttp_raise(status, &err);
    }
    if (headers != stack) {
        PyMem_Free(headers);
    }
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
start_status(ResponseWriterObject *self, int code)
{
    size_t unused;
    if (check_live(self) < 0) {
        return -1;
    }
    if (self->out.started) {
        PyErr_SetString(gohttp_exc.StateError,
            "the response has already started: write_header() must "
            "come before write() and flush(), and only once");
        return -1;
    }
    return start(self, code, NULL, 0, &unused);
}

static int
response_start(PyObject *op, int code)
{
    int rc;
    Py_BEGIN_CRITICAL_SECTION(op);
    rc = start_status(Response_CAST(op), code);
    Py_END_CRITICAL_SECTION();
    return rc;
}

int
gohttp_response_start_packed(PyObject *op, int code, char *headers,
                             size_t size, int64_t declared)
{
    ResponseWriterObject *self = Response_CAST(op);
    size_t unused;
    gohttp_error err;
    int rc = -1;
    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_live(self) == 0 && self->header == NULL && !self->out.started) {
        gohttp_status status = gohttp_writer_start(&self->out, code, headers,
                                                   size, declared, NULL, 0,
                                                   &unused, &err);
        rc = status == GOHTTP_OK ? 0 : gohttp_raise(status, &err);
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
    gohttp_error err;
    *written = 0;
    if (check_live(self) < 0) {
        return -1;
    }
    if (!self->out.started) {
        /* status, headers and data at once */
        return start(self, 200, p, (size_t)n, written);
    }
    gohttp_status status = gohttp_writer_write(&self->out, p, (size_t)n,
                                               written, &err);
    return status == GOHTTP_OK ? 0 : gohttp_raise(status, &err);
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

    if (PyBytes_CheckExact(data)) {   /* most writes: no buffer protocol */
        p = PyBytes_AS_STRING(data);
        n = PyBytes_GET_SIZE(data);
    }
    else if (PyUnicode_Check(data)) {
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
    gohttp_error err;
    gohttp_status status;
    if (check_live(self) < 0
        || (!self->out.started && start(self, 200, NULL, 0, &no_body) < 0)) {
        goto done;
    }
    status = gohttp_writer_flush(&self->out, &err);
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
    int64_t written = 0;
    gohttp_error err;
    gohttp_status status;
    if (check_live(self) < 0 || check_readable(fd) < 0
        || (!self->out.started && start(self, 200, NULL, 0, &unused) < 0)) {
        goto done;
    }
    /* Go reads fd through a duplicate it makes at once; file stays alive
     * (the caller holds it), and fd open unless another thread closes it. */
    status = gohttp_writer_send_file(&self->out, fd, offset, count,
                                     &written, &err);
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
    if (self->out.call != 0 && !self->out.started && self->header != NULL) {
        size_t unused;
        rc = start(self, 200, NULL, 0, &unused);
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
    what = self->out.call == 0 ? "(finished)"
           : self->out.started ? "(started)" : "(new)";
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
