/*
 * errorstream.c — gohttp.wsgi's ``wsgi.errors``: each line an application
 * writes goes to the ``gohttp.error`` logger at ERROR level, after a tag (the
 * application's name).  A line without its "\n" waits for the rest, or for
 * flush(), which the adapter calls when the request ends.
 *
 * One serves each request, so it is in C: cheap to make, and it holds no
 * state another request could see (the WSGI adapter reuses one only once
 * it is flushed and no one else holds it).
 */
#include "module.h"

typedef struct {
    PyObject_HEAD
    gohttp_state *state;     /* borrowed: the type keeps the module alive */
    PyObject *tag;           /* str */
    PyObject *pending;       /* str: the start of a line, or NULL */
} ErrorStreamObject;

#define ErrorStream_CAST(op) ((ErrorStreamObject *)(op))

PyObject *
gohttp_error_stream_new(gohttp_state *st, PyObject *tag)
{
    ErrorStreamObject *self = PyObject_New(ErrorStreamObject,
                                           st->ErrorStreamType);
    if (self == NULL) {
        return NULL;
    }
    self->state = st;
    self->tag = Py_NewRef(tag);
    self->pending = NULL;
    return (PyObject *)self;   /* new reference */
}

static PyObject *
error_stream_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    PyObject *tag;
    if (!PyArg_ParseTuple(args, "U:ErrorStream", &tag)) {
        return NULL;
    }
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "ErrorStream() takes no keyword "
                        "arguments");
        return NULL;
    }
    gohttp_state *st = PyType_GetModuleState(tp);
    if (st == NULL) {
        return NULL;
    }
    return gohttp_error_stream_new(st, tag);
}

static void
error_stream_dealloc(PyObject *op)
{
    ErrorStreamObject *self = ErrorStream_CAST(op);
    PyTypeObject *tp = Py_TYPE(op);
    Py_DECREF(self->tag);
    Py_XDECREF(self->pending);
    PyObject_Free(op);
    Py_DECREF(tp);
}

/* Log one line (borrowed).  0, or -1 with an exception set. */
static int
log_line(ErrorStreamObject *self, PyObject *line)
{
    PyObject *result = PyObject_CallMethod(self->state->logger, "error",
                                           "sOO", "%s: %s", self->tag, line);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* Log what is pending, with the critical section held. */
static int
flush_pending(ErrorStreamObject *self)
{
    PyObject *line = self->pending;
    if (line == NULL) {
        return 0;
    }
    self->pending = NULL;
    int rc = log_line(self, line);
    Py_DECREF(line);
    return rc;
}

int
gohttp_error_stream_flush(PyObject *op)
{
    int rc;
    Py_BEGIN_CRITICAL_SECTION(op);
    rc = flush_pending(ErrorStream_CAST(op));
    Py_END_CRITICAL_SECTION();
    return rc;
}

int
gohttp_error_stream_idle(PyObject *op)
{
    int idle;
    Py_BEGIN_CRITICAL_SECTION(op);
    idle = ErrorStream_CAST(op)->pending == NULL;
    Py_END_CRITICAL_SECTION();
    return idle;
}

/* Write text (a str), with the critical section held. */
static int
write_text(ErrorStreamObject *self, PyObject *text)
{
    PyObject *all = NULL, *lines = NULL, *newline = NULL;
    int rc = -1;

    if (self->pending != NULL) {
        all = PyUnicode_Concat(self->pending, text);
    }
    else {
        all = Py_NewRef(text);
    }
    if (all == NULL || (newline = PyUnicode_FromOrdinal('\n')) == NULL
        || (lines = PyUnicode_Split(all, newline, -1)) == NULL) {
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(lines);
    Py_XSETREF(self->pending, NULL);
    for (Py_ssize_t i = 0; i < n - 1; i++) {
        if (log_line(self, PyList_GET_ITEM(lines, i)) < 0) {
            goto done;
        }
    }
    PyObject *rest = PyList_GET_ITEM(lines, n - 1);   /* borrowed */
    if (PyUnicode_GET_LENGTH(rest) > 0) {
        /* XSETREF: logging may have suspended the critical section and
         * let another thread's write leave a rest of its own. */
        Py_XSETREF(self->pending, Py_NewRef(rest));
    }
    rc = 0;
done:
    Py_XDECREF(lines);
    Py_XDECREF(newline);
    Py_XDECREF(all);
    return rc;
}

static int
check_text(PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes str, not "
                     "%.200s", Py_TYPE(text)->tp_name);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(write_doc,
"write(text, /)\n--\n\n"
"Log each complete line of text; keep the start of a line for later.");

static PyObject *
error_stream_write(PyObject *op, PyObject *text)
{
    int rc;
    if (check_text(text) < 0) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    rc = write_text(ErrorStream_CAST(op), text);
    Py_END_CRITICAL_SECTION();
    return rc < 0 ? NULL : PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text));
}

PyDoc_STRVAR(writelines_doc,
"writelines(lines, /)\n--\n\n"
"write() each of lines.");

static PyObject *
error_stream_writelines(PyObject *op, PyObject *lines)
{
    PyObject *iter = PyObject_GetIter(lines), *text;
    if (iter == NULL) {
        return NULL;
    }
    while ((text = PyIter_Next(iter)) != NULL) {
        PyObject *written = error_stream_write(op, text);
        Py_DECREF(text);
        if (written == NULL) {
            break;
        }
        Py_DECREF(written);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(flush_doc,
"flush()\n--\n\n"
"Log the start of a line that waits for its end, if any.");

static PyObject *
error_stream_flush(PyObject *op, PyObject *unused)
{
    if (gohttp_error_stream_flush(op) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
error_stream_repr(PyObject *op)
{
    return PyUnicode_FromFormat("<gohttp wsgi.errors of %R>",
                                ErrorStream_CAST(op)->tag);
}

static PyMethodDef error_stream_methods[] = {
    {"write", error_stream_write, METH_O, write_doc},
    {"writelines", error_stream_writelines, METH_O, writelines_doc},
    {"flush", error_stream_flush, METH_NOARGS, flush_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(error_stream_doc,
"ErrorStream(tag, /)\n--\n\n"
"wsgi.errors: each line written goes to the gohttp.error logger at ERROR\n"
"level, after tag (the application's name).  A line without its \"\\n\"\n"
"waits for the rest, or for flush().");

static PyType_Slot error_stream_slots[] = {
    {Py_tp_new, error_stream_new},
    {Py_tp_dealloc, error_stream_dealloc},
    {Py_tp_repr, error_stream_repr},
    {Py_tp_methods, error_stream_methods},
    {Py_tp_doc, (void *)error_stream_doc},
    {0, NULL},
};

PyType_Spec gohttp_error_stream_spec = {
    .name = "gohttp.wsgi.ErrorStream",
    .basicsize = sizeof(ErrorStreamObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = error_stream_slots,
};
