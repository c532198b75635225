/*
 * response.c — gohttp.ResponseWriter, how a handler answers.
 *
 * The status and headers cross to Go in one call (gohttp_call_write_header)
 * when the response starts: at write_header(), the first write() or
 * flush(), or when the handler returns.  Until then w.header is a plain
 * Python object.  Body bytes cross on each write(); the GIL is released
 * for a write that may reach the socket, so a slow client does not stall
 * other handlers.  send_file() hands Go a file descriptor instead: Go
 * copies the file to the client (with sendfile(2) where it can), and no
 * byte of it passes through C or Python.
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
        map = Py_NewRef(gohttp_headers_map(self->header));
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
    size_t no_body;
    if (check_live(self) < 0
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
    {"send_file", (PyCFunction)(void (*)(void))response_send_file,
     METH_VARARGS | METH_KEYWORDS, send_file_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(response_doc,
"How a handler writes its response: handler(w, req).\n\n"
"Set headers in w.header, then optionally w.write_header(code), then\n"
"w.write(data) or w.send_file(file) as often as needed.  Valid only\n"
"until the handler returns; afterwards every method raises RuntimeError.\n"
"Not created from Python.");

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
