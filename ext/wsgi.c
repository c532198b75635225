/*
 * wsgi.c — WSGI (PEP 3333) in C for the common application: the request
 * runs with no Python of gohttp's own.
 *
 * A WSGIApp (gohttp.wsgi.WSGIApp, made by gohttp.wsgi.mount()) is what a
 * server routes to.  dispatch.c hands it the request as Go packed it
 * (bridge.h): this file builds the environ (environ.c), calls the
 * application with a start_response written in C, and when the
 * application made one plain start_response call and returned a list or
 * tuple of bytes (what Flask, Django and most apps do), writes the
 * response itself through response.c, which holds a small one back for
 * Go to send.
 *
 * Whatever else happens is the Python adapter's (gohttp/wsgi.py) to
 * handle, with what start_response was told: an iterator or a file
 * wrapper, the write() callable, exc_info or a second start_response
 * call, and every mistake (a bad status or header, a body that is not
 * bytes or not as long as its Content-Length).  C only checks that all is
 * plain before it answers, and hands over, having sent nothing, at the
 * first doubt: the messages that name a mistake live in one place,
 * gohttp/wsgi.py.  The adapter's functions are given once, to WSGIApp():
 * C looks nothing of the adapter up by name.
 */
#include "module.h"

#include <string.h>
#include <structmember.h>   /* T_OBJECT, READONLY (3.10, 3.11) */

/* ---- WSGIApp ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    gohttp_state *state;      /* borrowed: the type keeps the module alive */
    PyObject *app;            /* the WSGI application */
    PyObject *name;           /* str: the app's name in logs */
    PyObject *script_name;    /* str: the mount prefix, "" at the root */
    PyObject *script;         /* script_name as UTF-8 bytes */
    /* The Python adapter, each called as its stub in _gohttp.pyi says: */
    PyObject *environ_base;   /* environ_base() -> dict, once */
    PyObject *response;       /* response(w, name, status, headers) */
    PyObject *start_response; /* start_response(response, *args, **kw) */
    PyObject *write;          /* write(response, data) */
    PyObject *send;           /* send(response, result[, taken, rest]) */
    PyObject *input_type;     /* input_type(read, length): wsgi.input */
    PyObject *empty_input;    /* wsgi.input of requests without a body */
    PyObject *disconnected;   /* the exception of a client gone away */
    PyObject *constants;      /* the base each environ is copied from (see
                                 gohttp_wsgi_environ_base), or NULL */
    PyObject *file_wrapper;   /* constants' wsgi.file_wrapper, or NULL */
    PyObject *spare;          /* a cleared start_response for the next
                                 request (see spare_start_response), or NULL */
    PyObject *spare_errors;   /* a flushed wsgi.errors, likewise, or NULL */
    PyObject *last_status;    /* the last plain status str sent (GIL
                                 builds), or NULL: strong */
    int last_code;            /* its code */
    gohttp_environ_spare *environ_spare;   /* an environ for the next
                                 request, made with constants; NULL while a
                                 request has it (see gohttp_wsgi_run) */
} WSGIAppObject;

#define WSGIApp_CAST(op) ((WSGIAppObject *)(op))

/* 0 if every one of the n objects is callable, else -1 with TypeError
 * naming the first that is not. */
static int
check_callables(PyObject *const *objects, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (!PyCallable_Check(objects[i])) {
            PyErr_Format(PyExc_TypeError, "WSGIApp: %s must be callable, "
                         "not %.200s", names[i], Py_TYPE(objects[i])->tp_name);
            return -1;
        }
    }
    return 0;
}

static PyObject *
wsgi_app_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"app", "name", "script_name", "environ_base",
                             "response", "start_response", "write", "send",
                             "input_type", "empty_input",
                             "client_disconnected", NULL};
    static const char *const callable_names[] = {
        "app", "environ_base", "response", "start_response", "write", "send",
        "input_type",
    };
    PyObject *app, *name, *script_name, *environ_base, *response;
    PyObject *start_response, *write, *send, *input_type, *empty_input;
    PyObject *disconnected;
    WSGIAppObject *self = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OUUOOOOOOOO:WSGIApp",
                                     kwlist, &app, &name, &script_name,
                                     &environ_base, &response,
                                     &start_response, &write, &send,
                                     &input_type, &empty_input,
                                     &disconnected)) {
        return NULL;
    }
    PyObject *callables[] = {app, environ_base, response, start_response,
                             write, send, input_type};
    if (check_callables(callables, callable_names,
                        (int)Py_ARRAY_LENGTH(callables)) < 0) {
        return NULL;
    }
    if (!PyExceptionClass_Check(disconnected)) {
        PyErr_Format(PyExc_TypeError, "WSGIApp: client_disconnected must be "
                     "an exception class, not %.200s",
                     Py_TYPE(disconnected)->tp_name);
        return NULL;
    }
    gohttp_state *st = PyType_GetModuleState(tp);
    if (st == NULL || (self = PyObject_GC_New(WSGIAppObject, tp)) == NULL) {
        return NULL;
    }
    self->state = st;
    self->app = Py_NewRef(app);
    self->name = Py_NewRef(name);
    self->script_name = Py_NewRef(script_name);
    self->environ_base = Py_NewRef(environ_base);
    self->response = Py_NewRef(response);
    self->start_response = Py_NewRef(start_response);
    self->write = Py_NewRef(write);
    self->send = Py_NewRef(send);
    self->input_type = Py_NewRef(input_type);
    self->empty_input = Py_NewRef(empty_input);
    self->disconnected = Py_NewRef(disconnected);
    self->constants = NULL;
    self->file_wrapper = NULL;
    self->spare = NULL;
    self->spare_errors = NULL;
    self->environ_spare = NULL;
    self->last_status = NULL;
    self->last_code = 0;
    self->script = PyUnicode_AsEncodedString(script_name, "utf-8",
                                             "surrogateescape");
    PyObject_GC_Track(self);
    if (self->script == NULL) {
        Py_CLEAR(self);
    }
    return (PyObject *)self;   /* new reference */
}

static int
wsgi_app_traverse(PyObject *op, visitproc visit, void *arg)
{
    WSGIAppObject *self = WSGIApp_CAST(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->app);
    Py_VISIT(self->environ_base);
    Py_VISIT(self->response);
    Py_VISIT(self->start_response);
    Py_VISIT(self->write);
    Py_VISIT(self->send);
    Py_VISIT(self->input_type);
    Py_VISIT(self->empty_input);
    Py_VISIT(self->disconnected);
    Py_VISIT(self->constants);
    Py_VISIT(self->file_wrapper);
    Py_VISIT(self->spare);
    Py_VISIT(self->spare_errors);
    return gohttp_environ_spare_traverse(self->environ_spare, visit, arg);
}

static int
wsgi_app_clear(PyObject *op)
{
    WSGIAppObject *self = WSGIApp_CAST(op);
    Py_CLEAR(self->app);
    Py_CLEAR(self->name);
    Py_CLEAR(self->script_name);
    Py_CLEAR(self->script);
    Py_CLEAR(self->environ_base);
    Py_CLEAR(self->response);
    Py_CLEAR(self->start_response);
    Py_CLEAR(self->write);
    Py_CLEAR(self->send);
    Py_CLEAR(self->input_type);
    Py_CLEAR(self->empty_input);
    Py_CLEAR(self->disconnected);
    Py_CLEAR(self->constants);
    Py_CLEAR(self->file_wrapper);
    Py_CLEAR(self->spare);
    Py_CLEAR(self->spare_errors);
    Py_CLEAR(self->last_status);
    gohttp_environ_spare *sp = self->environ_spare;
    self->environ_spare = NULL;
    gohttp_environ_spare_free(sp);
    return 0;
}

static void
wsgi_app_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    wsgi_app_clear(op);
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

/* A WSGIApp is a route: the server runs it (gohttp_wsgi_run), with the
 * request Go packed.  It is callable only so that Server.handle() takes
 * it, and says so if Python calls it. */
static PyObject *
wsgi_app_call(PyObject *op, PyObject *args, PyObject *kwargs)
{
    PyErr_Format(PyExc_TypeError, "%R is run by the server it is mounted "
                 "on (Server.mount_wsgi()), not called from Python", op);
    return NULL;
}

static PyObject *
wsgi_app_repr(PyObject *op)
{
    WSGIAppObject *self = WSGIApp_CAST(op);
    if (PyUnicode_GET_LENGTH(self->script_name) == 0) {
        return PyUnicode_FromFormat("<gohttp WSGI app %U at '/'>", self->name);
    }
    return PyUnicode_FromFormat("<gohttp WSGI app %U at %R>", self->name,
                                self->script_name);
}

/* Borrowed: the base each environ is copied from, made at the first
 * request (when the server knows its port) from environ_base(), the
 * environ entries of every request. */
static PyObject *
constants(WSGIAppObject *self)
{
    PyObject *result;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->constants == NULL) {
        PyObject *made = PyObject_CallNoArgs(self->environ_base);
        if (made != NULL && !PyDict_Check(made)) {
            PyErr_Format(PyExc_TypeError, "WSGIApp: environ_base() must "
                         "return a dict, not %.200s", Py_TYPE(made)->tp_name);
            Py_CLEAR(made);
        }
        if (made != NULL) {
            Py_SETREF(made, gohttp_wsgi_environ_base(self->state, made));
        }
        if (made != NULL && self->constants == NULL) {   /* else another
                                                          thread made them */
            PyObject *fw = PyDict_GetItemString(made, "wsgi.file_wrapper");
            self->file_wrapper = Py_XNewRef(fw);   /* borrowed: made holds it */
            self->environ_spare = gohttp_environ_spare_new(made);
            self->constants = made;
        }
        else {
            Py_XDECREF(made);
        }
    }
    result = self->constants;
    Py_END_CRITICAL_SECTION();
    return result;
}

static PyMemberDef wsgi_app_members[] = {
    {"app", T_OBJECT, offsetof(WSGIAppObject, app), READONLY,
     PyDoc_STR("The WSGI application this runs.")},
    {"name", T_OBJECT, offsetof(WSGIAppObject, name), READONLY,
     PyDoc_STR("The application's name in logs and the banner.")},
    {"script_name", T_OBJECT, offsetof(WSGIAppObject, script_name), READONLY,
     PyDoc_STR("Where it is mounted: its SCRIPT_NAME, \"\" at the root.")},
    {NULL},
};

PyDoc_STRVAR(wsgi_app_doc,
"WSGIApp(app, name, script_name, environ_base, response, start_response,\n"
"        write, send, input_type, empty_input, client_disconnected)\n--\n\n"
"The route a server runs a WSGI application by: the request in C, with\n"
"the Python adapter's functions (given here, see gohttp/_gohttp.pyi) for\n"
"what C does not do.  Made by gohttp.wsgi.mount().");

static PyType_Slot wsgi_app_slots[] = {
    {Py_tp_new, wsgi_app_new},
    {Py_tp_dealloc, wsgi_app_dealloc},
    {Py_tp_traverse, wsgi_app_traverse},
    {Py_tp_clear, wsgi_app_clear},
    {Py_tp_call, wsgi_app_call},
    {Py_tp_repr, wsgi_app_repr},
    {Py_tp_members, wsgi_app_members},
    {Py_tp_doc, (void *)wsgi_app_doc},
    {0, NULL},
};

PyType_Spec gohttp_wsgi_app_spec = {
    .name = "gohttp.wsgi.WSGIApp",
    .basicsize = sizeof(WSGIAppObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_HAVE_GC,
    .slots = wsgi_app_slots,
};

/* ---- start_response ------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    WSGIAppObject *wsgi;      /* strong */
    PyObject *w;              /* the ResponseWriter: strong */
    PyObject *status;         /* as given, or NULL */
    PyObject *headers;        /* as given, or NULL */
    PyObject *response;       /* what the adapter's response() made, once
                                 it took over, or NULL */
    PyObject *write_fn;       /* the write() callable it returned, kept
                                 while the object is spared (GIL builds),
                                 or NULL: strong, and it holds this */
} StartResponseObject;

#define StartResponse_CAST(op) ((StartResponseObject *)(op))

/* Hand the response over to the Python adapter: the response(w, name,
 * status, headers) it makes, told what start_response was told so far.
 * 0, or -1 with an exception set. */
static int
take_over(StartResponseObject *self)
{
    int rc = 0;
    /* Once, also when app threads call write() at the same time: the
     * call may suspend the critical section, so check again after it. */
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->response == NULL) {
        PyObject *args[] = {self->w, self->wsgi->name,
                            self->status ? self->status : Py_None,
                            self->headers ? self->headers : Py_None};
        PyObject *made = PyObject_Vectorcall(self->wsgi->response, args, 4,
                                             NULL);
        if (made == NULL) {
            rc = -1;
        }
        else if (self->response == NULL) {
            self->response = made;
        }
        else {
            Py_DECREF(made);   /* another thread took over meanwhile */
        }
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyObject *
start_response_write(PyObject *op, PyObject *data)
{
    StartResponseObject *self = StartResponse_CAST(op);
    if (take_over(self) < 0) {
        return NULL;
    }
    PyObject *args[] = {self->response, data};
    return PyObject_Vectorcall(self->wsgi->write, args, 2, NULL);
}

static PyMethodDef write_def = {
    "write", start_response_write, METH_O,
    PyDoc_STR("write(data, /)\n--\n\nThe write() callable of PEP 3333: "
              "data reaches the client before it returns."),
};

/* start_response(status, headers, exc_info=None) */
static PyObject *
start_response_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    StartResponseObject *self = StartResponse_CAST(op);
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    int plain;
    Py_BEGIN_CRITICAL_SECTION(op);   /* the first call only, of any thread */
    /* A None status would read as "not called": the adapter refuses it. */
    plain = nargs == 2 && nkw == 0 && self->response == NULL
            && self->status == NULL && args[0] != Py_None;
    if (plain) {
        self->status = Py_NewRef(args[0]);
        self->headers = Py_NewRef(args[1]);
    }
    Py_END_CRITICAL_SECTION();

    if (!plain) {
        /* exc_info, a second call, bad arguments: the Python adapter's */
        PyObject *method = NULL, *result = NULL;
        if (take_over(self) == 0) {   /* start_response bound to it */
            method = PyMethod_New(self->wsgi->start_response, self->response);
        }
        if (method != NULL) {
            result = PyObject_Vectorcall(method, args, nargsf, kwnames);
            Py_DECREF(method);
        }
        return result;
    }
#ifndef Py_GIL_DISABLED
    /* The same callable for each request of a spared start_response: one
     * allocation fewer a request (see spare_start_response). */
    if (self->write_fn == NULL) {
        self->write_fn = PyCFunction_New(&write_def, op);
    }
    return Py_XNewRef(self->write_fn);   /* new reference */
#else
    return PyCFunction_New(&write_def, op);   /* new reference */
#endif
}

static int
start_response_traverse(PyObject *op, visitproc visit, void *arg)
{
    StartResponseObject *self = StartResponse_CAST(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->wsgi);
    Py_VISIT(self->w);
    Py_VISIT(self->status);
    Py_VISIT(self->headers);
    Py_VISIT(self->response);
    Py_VISIT(self->write_fn);
    return 0;
}

static int
start_response_clear(PyObject *op)
{
    StartResponseObject *self = StartResponse_CAST(op);
    Py_CLEAR(self->wsgi);
    Py_CLEAR(self->w);
    Py_CLEAR(self->status);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->response);
    Py_CLEAR(self->write_fn);
    return 0;
}

static void
start_response_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    start_response_clear(op);
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

static PyMemberDef start_response_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(StartResponseObject, vectorcall), READONLY, NULL},
    {NULL},
};

static PyType_Slot start_response_slots[] = {
    {Py_tp_dealloc, start_response_dealloc},
    {Py_tp_traverse, start_response_traverse},
    {Py_tp_clear, start_response_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, start_response_members},
    {Py_tp_doc, (void *)PyDoc_STR(
        "start_response(status, headers, exc_info=None)\n--\n\n"
        "PEP 3333's start_response; returns the write() callable.")},
    {0, NULL},
};

PyType_Spec gohttp_start_response_spec = {
    .name = "gohttp.wsgi.start_response",
    .basicsize = sizeof(StartResponseObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = start_response_slots,
};

static StartResponseObject *
start_response_new(WSGIAppObject *wsgi, PyObject *w)
{
    StartResponseObject *self = (StartResponseObject *)wsgi->spare;
    if (self != NULL) {
        wsgi->spare = NULL;   /* cleared, tracked: see spare_start_response */
    }
    else {
        self = PyObject_GC_New(StartResponseObject,
                               wsgi->state->StartResponseType);
        if (self == NULL) {
            return NULL;
        }
        self->vectorcall = start_response_vectorcall;
        self->wsgi = NULL;
        self->w = self->status = self->headers = self->response = NULL;
        self->write_fn = NULL;
        PyObject_GC_Track(self);
    }
    self->wsgi = (WSGIAppObject *)Py_NewRef(wsgi);
    self->w = Py_NewRef(w);
    return self;   /* new reference */
}

/* Let go of sr, a request's start_response, once the request is done:
 * kept, cleared, for the next request when no one else holds it (the app
 * kept no reference), which saves a GC object's allocation, tracking and
 * freeing per request; its write() callable, which holds it, is kept
 * with it when no one else holds that either.  Free-threaded builds,
 * where requests run at once and references are counted per thread, let
 * it go. */
static void
spare_start_response(WSGIAppObject *wsgi, StartResponseObject *sr)
{
    if (sr == NULL) {
        return;
    }
#ifndef Py_GIL_DISABLED
    PyObject *fn = sr->write_fn;
    if (wsgi->spare == NULL && (fn == NULL || Py_REFCNT(fn) == 1)
        && Py_REFCNT(sr) == 1 + (fn != NULL)) {
        /* Clearing may run Python code (a __del__) that lets another
         * request in, which may spare its own: look again after it. */
        sr->write_fn = NULL;   /* kept out of the clearing */
        start_response_clear((PyObject *)sr);
        sr->write_fn = fn;
        if (wsgi->spare == NULL) {
            wsgi->spare = (PyObject *)sr;   /* our reference moves there */
            return;
        }
    }
#endif
    Py_CLEAR(sr->write_fn);   /* no cycle left for the GC to find */
    Py_DECREF(sr);
}

/* A wsgi.errors for a request: the spare, or a new one. */
static PyObject *
errors_new(WSGIAppObject *wsgi)
{
    PyObject *errors = wsgi->spare_errors;
    if (errors != NULL) {
        wsgi->spare_errors = NULL;
        return errors;   /* new reference: the spare's */
    }
    return gohttp_error_stream_new(wsgi->state, wsgi->name);
}

/* Let go of a request's wsgi.errors: kept for the next request, as
 * spare_start_response does, when it is flushed and no one else holds
 * it (the app kept neither it nor the environ) but the environ kept for
 * the next request, held times (gohttp_environ_release). */
static void
spare_errors(WSGIAppObject *wsgi, PyObject *errors, int held)
{
#ifndef Py_GIL_DISABLED
    if (errors != NULL && wsgi->spare_errors == NULL
        && Py_REFCNT(errors) == 1 + held && gohttp_error_stream_idle(errors)) {
        wsgi->spare_errors = errors;   /* our reference moves there */
        return;
    }
#endif
    Py_XDECREF(errors);
}

/* ---- the plain response ---------------------------------------------------- */

/* The code of a final status line such as "200 OK", or -1 if status is
 * anything else. */
static int
plain_status(PyObject *status)
{
    if (!PyUnicode_CheckExact(status) || !PyUnicode_IS_ASCII(status)) {
        return -1;
    }
    const char *s = (const char *)PyUnicode_1BYTE_DATA(status);
    Py_ssize_t n = PyUnicode_GET_LENGTH(status);
    if (n < 3 || (n > 3 && s[3] != ' ')) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }
    if (memchr(s, '\r', (size_t)n) || memchr(s, '\n', (size_t)n)) {
        return -1;
    }
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return code >= 200 ? code : -1;
}

/* Whether key, a latin-1 str, is s[:n]. */
/* plain_status of status, the last one's remembered by identity: an app
 * passes the same str, its literal, on every response. */
static int
status_code(WSGIAppObject *wsgi, PyObject *status)
{
#ifndef Py_GIL_DISABLED
    if (status == wsgi->last_status) {
        return wsgi->last_code;
    }
    int code = plain_status(status);
    if (code >= 0) {
        Py_XSETREF(wsgi->last_status, Py_NewRef(status));   /* a str: its
                                                   freeing runs no Python */
        wsgi->last_code = code;
    }
    return code;
#else
    return plain_status(status);
#endif
}

static inline int
key_is_n(PyObject *key, const char *s, size_t n)
{
    return (size_t)PyUnicode_GET_LENGTH(key) == n
           && memcmp(PyUnicode_1BYTE_DATA(key), s, n) == 0;
}

/* Whether key is the string literal lit (its length known when compiled:
 * a header of each response is compared with several). */
#define key_is(key, lit) key_is_n((key), (lit), sizeof(lit) - 1)

/* Headers of one connection, not of the response (RFC 9110 7.6.1), in
 * canonical form; Go writes its own. */
static int
hop_by_hop(PyObject *key)
{
    static const struct {
        const char *s;
        size_t n;
    } names[] = {
#define NAME(s) {s, sizeof(s) - 1}
        NAME("Keep-Alive"), NAME("Proxy-Authenticate"),
        NAME("Proxy-Authorization"), NAME("Proxy-Connection"), NAME("Te"),
        NAME("Trailer"), NAME("Transfer-Encoding"), NAME("Upgrade"),
#undef NAME
    };
    Py_ssize_t len = PyUnicode_GET_LENGTH(key);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((size_t)len == names[i].n && key_is_n(key, names[i].s, names[i].n)) {
            return 1;
        }
    }
    return 0;
}

static int
is_close(PyObject *value)
{
    const char *s = (const char *)PyUnicode_1BYTE_DATA(value);
    return PyUnicode_GET_LENGTH(value) == 5 && PyOS_strnicmp(s, "close", 5) == 0;
}

/* A plain Content-Length value: its number, or -1. */
static int64_t
plain_length(PyObject *value)
{
    const char *s = (const char *)PyUnicode_1BYTE_DATA(value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    int64_t v = 0;
    if (n == 0 || n > 18) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Where the plain headers of a response are packed (bridge.h): its
 * headers must fit in Go's reply buffer to be held back, and any that do
 * not fit go to the Python adapter. */
typedef struct {
    char buf[GOHTTP_REPLY_SIZE];   /* bridge.h */
    size_t size;
} packed_headers;

/* Add key and value (latin-1 strs) to out.  0 if they do not fit. */
static int
pack_pair(packed_headers *out, PyObject *key, PyObject *value)
{
    return gohttp_put_item(out->buf, sizeof out->buf, &out->size,
                           (const char *)PyUnicode_1BYTE_DATA(key),
                           PyUnicode_GET_LENGTH(key)) == 0
           && gohttp_put_item(out->buf, sizeof out->buf, &out->size,
                              (const char *)PyUnicode_1BYTE_DATA(value),
                              PyUnicode_GET_LENGTH(value)) == 0;
}

/* Pack the headers given to start_response into out, as the Python
 * adapter would send them.  1 if they were all plain, with *declared set
 * to their Content-Length (-1 if none); 0 at the first doubt. */
static int
plain_header_items(gohttp_state *st, packed_headers *out, PyObject *headers,
                   int64_t *declared)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(headers);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(headers, i);   /* borrowed */
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            return 0;
        }
        PyObject *value = PyTuple_GET_ITEM(item, 1);
        if (!gohttp_header_value_ok(st, value)) {
            return 0;
        }
        PyObject *key = gohttp_header_key(st, PyTuple_GET_ITEM(item, 0));
        if (key == NULL) {
            return 0;
        }
        int rc = 1;
        if (key_is(key, "Content-Length")) {
            *declared = *declared == -1 ? plain_length(value) : -1;
            rc = *declared >= 0;   /* one plain number, or doubt */
        }
        else if (key_is(key, "Connection")) {
            rc = is_close(value) ? 1 : 2;   /* keep "close" only */
        }
        else if (hop_by_hop(key)) {
            rc = 2;
        }
        if (rc == 1) {
            rc = pack_pair(out, key, value);
        }
        Py_DECREF(key);
        if (rc == 0) {
            return 0;
        }
    }
    return 1;
}

/* plain_header_items over the headers given to start_response.  On a
 * free-threaded build over a tuple of them: the app's list could change
 * meanwhile (another of its threads), and its items with it.  -1 with an
 * exception set if that tuple cannot be made. */
static int
plain_headers(gohttp_state *st, packed_headers *out, PyObject *headers,
              int64_t *declared)
{
    *declared = -1;
    out->size = 0;
    if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers)) {
        return 0;
    }
#ifndef Py_GIL_DISABLED
    /* No Python code runs while the items are read and packed (nothing
     * there calls any, nor lets the GIL go): no thread can change the
     * list meanwhile, and nothing of it is kept after.  No copy. */
    return plain_header_items(st, out, headers, declared);
#else
    PyObject *items = PySequence_Tuple(headers);   /* a tuple as it is */
    if (items == NULL) {
        return -1;
    }
    int rc = plain_header_items(st, out, items, declared);
    Py_DECREF(items);
    return rc;
#endif
}

/* Send the response of an app that called start_response once and
 * returned result, a list or tuple.  1 if sent; 0 if it is not plain and
 * nothing was sent; -1 with an exception set.  With need_length, the
 * headers must give the body's Content-Length. */
static int
send_plain_items(StartResponseObject *sr, PyObject *result, int need_length)
{
    Py_ssize_t nchunks = PySequence_Fast_GET_SIZE(result);
    PyObject **chunks = PySequence_Fast_ITEMS(result);
    packed_headers headers;
    int64_t total = 0, declared;

    int code = status_code(sr->wsgi, sr->status);
    if (code < 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < nchunks; i++) {
        if (!PyBytes_CheckExact(chunks[i])) {
            return 0;
        }
        total += PyBytes_GET_SIZE(chunks[i]);
    }
    int plain = plain_headers(sr->wsgi->state, &headers, sr->headers,
                              &declared);
    int discard = !gohttp_code_allows_body(code);
    if (plain <= 0 || (declared >= 0 && declared != total && !discard)) {
        return plain < 0 ? -1 : 0;   /* a mistake, or a body at odds with
                                        its length: Python names it */
    }
    if (declared < 0 && !discard && need_length) {
        return 0;   /* the adapter streams it, as it would have */
    }
    if (declared < 0 && !discard) {
        char length[24];
        size_t n = (size_t)snprintf(length, sizeof length, "%lld",
                                    (long long)total);
        if (gohttp_put_item(headers.buf, sizeof headers.buf, &headers.size,
                            "Content-Length", 14) < 0
            || gohttp_put_item(headers.buf, sizeof headers.buf, &headers.size,
                               length, (Py_ssize_t)n) < 0) {
            return 0;
        }
        declared = total;
    }
    if (gohttp_response_start_packed(sr->w, code, headers.buf, headers.size,
                                     discard ? -1 : declared) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < nchunks && !discard; i++) {
        Py_ssize_t n = PyBytes_GET_SIZE(chunks[i]);
        if (n > 0 && gohttp_response_write(sr->w, PyBytes_AS_STRING(chunks[i]),
                                           n) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_OSError)) {
                return -1;
            }
            PyErr_Clear();   /* the client went away: nothing to tell it */
            break;
        }
    }
    return 1;
}

/* send_plain_items over a tuple of result: writes wait in Go without the
 * GIL, and the app's list could change meanwhile. */
static int
send_plain(StartResponseObject *sr, PyObject *result)
{
#ifndef Py_GIL_DISABLED
    /* A list or tuple no one else holds (the app made it to return it,
     * as most do) cannot change: no copy, which would cost an
     * allocation per request.  (Free-threaded builds count references
     * per thread: they copy.) */
    if (Py_REFCNT(result) == 1) {
        return send_plain_items(sr, result, 0);
    }
#endif
    PyObject *items = PySequence_Tuple(result);   /* a tuple as it is */
    if (items == NULL) {
        return -1;
    }
    int rc = send_plain_items(sr, items, 0);
    Py_DECREF(items);
    return rc;
}

/* Whether result is an iterable the adapter would stream: not a list or
 * tuple, a file wrapper, or what is not a WSGI body at all (the adapter
 * names that mistake). */
static int
streamed(WSGIAppObject *wsgi, PyObject *result)
{
    return Py_TYPE(result)->tp_iter != NULL
           && !PyUnicode_Check(result) && !PyBytes_Check(result)
           && !PyList_CheckExact(result) && !PyTuple_CheckExact(result)
           && (PyObject *)Py_TYPE(result) != wsgi->file_wrapper;
}

/* The Content-Length that headers, given to start_response, declare: a
 * plain number, else -1.  A first look only: send_plain_items checks. */
static Py_ssize_t
declared_length(PyObject *headers)
{
    Py_ssize_t length = -1;
    if (!PyList_CheckExact(headers)) {
        return -1;
    }
    Py_BEGIN_CRITICAL_SECTION(headers);   /* the app's list */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);   /* borrowed */
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            break;
        }
        PyObject *key = PyTuple_GET_ITEM(item, 0);
        PyObject *value = PyTuple_GET_ITEM(item, 1);
        if (PyUnicode_CheckExact(key) && PyUnicode_IS_ASCII(key)
            && PyUnicode_GET_LENGTH(key) == 14
            && PyOS_strnicmp((const char *)PyUnicode_1BYTE_DATA(key),
                             "content-length", 14) == 0) {
            if (PyUnicode_CheckExact(value) && PyUnicode_IS_ASCII(value)) {
                length = (Py_ssize_t)plain_length(value);
            }
            break;
        }
    }
    Py_END_CRITICAL_SECTION();
    return length;
}

/* Send the response of an app that called start_response once, with a
 * Content-Length, and returned an iterable of one chunk of that length
 * (what Flask and Django return), as send_plain does a list: no stream
 * with one flush per chunk for a body that is whole.  result is iterated
 * as far as its second chunk; nothing is sent until it says it has no
 * more.  1 if sent; 0 if it is not such a response and nothing was sent,
 * with *taken (a tuple of the chunks taken) and *rest (the iterator they
 * came from) for the adapter; -1 with an exception set, the iterable's. */
static int
send_one_chunk(StartResponseObject *sr, PyObject *result, PyObject **taken,
               PyObject **rest)
{
    Py_ssize_t length = declared_length(sr->headers), n = 0;
    int exhausted = 0, rc = 0;
    if (length < 0) {
        return 0;   /* a stream, as far as anyone can tell */
    }
    PyObject *it = PyObject_GetIter(result), *chunks[2] = {NULL, NULL};
    if (it == NULL) {
        return -1;
    }
    while (n < 2) {
        PyObject *chunk = PyIter_Next(it);
        if (chunk == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;
            exhausted = rc == 0;
            break;
        }
        chunks[n++] = chunk;
        if (!PyBytes_CheckExact(chunk) || sr->response != NULL
            || PyBytes_GET_SIZE(chunk) != length) {
            break;   /* a mistake, write() or start_response again, or a
                        stream: the next chunk may wait for the client */
        }
    }
    if (rc == 0) {
        *taken = PyTuple_New(n);
        if (*taken == NULL) {
            rc = -1;
        }
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            PyTuple_SET_ITEM(*taken, i, Py_NewRef(chunks[i]));
        }
    }
    if (rc == 0 && exhausted && n < 2 && sr->response == NULL) {
        rc = send_plain_items(sr, *taken, 1);
    }
    if (rc == 0) {
        *rest = Py_NewRef(it);   /* the adapter goes on */
    }
    else {
        Py_CLEAR(*taken);
    }
    Py_XDECREF(chunks[0]);
    Py_XDECREF(chunks[1]);
    Py_DECREF(it);
    return rc;
}

/* ---- one request ----------------------------------------------------------- */

/* New reference: wsgi.input for req. */
static PyObject *
make_input(WSGIAppObject *wsgi, const gohttp_request *req, PyObject *r)
{
    if (req->content_length == 0) {
        return Py_NewRef(wsgi->empty_input);
    }
    PyObject *read = PyObject_GetAttrString(r, "read"), *input = NULL;
    if (read != NULL) {
        PyObject *length = req->content_length < 0
                           ? Py_NewRef(Py_None)
                           : PyLong_FromLongLong(req->content_length);
        if (length != NULL) {
            input = PyObject_CallFunctionObjArgs(wsgi->input_type, read,
                                                 length, NULL);
            Py_DECREF(length);
        }
        Py_DECREF(read);
    }
    return input;
}

/* Call close() of result, if it has one.  0, or -1 with an exception. */
static int
close_result(WSGIAppObject *wsgi, PyObject *result)
{
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        return 0;
    }
    PyObject *close = NULL;
    if (PyObject_GetOptionalAttrString(result, "close", &close) <= 0) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *done = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (done == NULL) {
        gohttp_log_exception(wsgi->state, "WSGI app %U: error in the close() "
                             "of its response", wsgi->name);
        return 0;   /* the response stands as sent */
    }
    Py_DECREF(done);
    return 0;
}

/* close_result after an error, whose exception stays set: close() runs
 * with none pending, and an error of its own is logged. */
static void
close_after_error(WSGIAppObject *wsgi, PyObject *result)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (close_result(wsgi, result) < 0) {
        gohttp_log_exception(wsgi->state, "WSGI app %U: error in the close() "
                             "of its response", wsgi->name);
    }
    PyErr_SetRaisedException(exc);
}

gohttp_outcome
gohttp_wsgi_run(PyObject *op, const gohttp_request *req, const char *data,
                gohttp_reply *reply, char *reply_buf)
{
    WSGIAppObject *wsgi = WSGIApp_CAST(op);
    gohttp_state *st = wsgi->state;
    gohttp_outcome outcome = GOHTTP_FAILED;
    PyObject *r = NULL, *w = NULL, *base, *input = NULL, *errors = NULL;
    PyObject *environ = NULL, *result = NULL, *sent = NULL;
    PyObject *taken = NULL, *rest = NULL;   /* of a stream C began */
    StartResponseObject *sr = NULL;
    gohttp_environ_spare *spare = NULL;   /* this request's while it runs */

    if ((base = constants(wsgi)) == NULL) {   /* borrowed */
        goto error;
    }
#ifndef Py_GIL_DISABLED   /* (never made on free-threaded builds) */
    spare = wsgi->environ_spare;
    wsgi->environ_spare = NULL;
#endif
    /* A Request only for what needs one: a body to read. */
    if (req->content_length != 0
        && (r = gohttp_request_new(st, req, data)) == NULL) {
        goto error;
    }
    if ((w = gohttp_response_new(st, req, reply, reply_buf)) == NULL
        || (input = make_input(wsgi, req, r)) == NULL
        || (errors = errors_new(wsgi)) == NULL
        || (environ = gohttp_wsgi_environ(st, req, data, base, wsgi->script,
                                          input, errors, spare)) == NULL
        || (sr = start_response_new(wsgi, w)) == NULL) {
        goto error;
    }

    PyObject *args[] = {environ, (PyObject *)sr};
    result = PyObject_Vectorcall(wsgi->app, args, 2, NULL);
    if (result == NULL) {
        if (!PyErr_ExceptionMatches(wsgi->disconnected)) {
            goto error;
        }
        PyErr_Clear();   /* the app's write() found the client gone */
        outcome = GOHTTP_HANDLED;
        goto done;
    }
    int plain = 0;
    if (sr->response == NULL && sr->status != NULL) {
        if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
            plain = send_plain(sr, result);
        }
        else if (streamed(wsgi, result)) {
            plain = send_one_chunk(sr, result, &taken, &rest);
        }
        if (plain < 0) {
            close_after_error(wsgi, result);
            goto error;
        }
    }
    if (!plain) {
        /* the Python adapter sends it, and calls close() */
        if (take_over(sr) < 0) {
            close_after_error(wsgi, result);
            goto error;
        }
        PyObject *args[] = {sr->response, result, taken, rest};
        sent = PyObject_Vectorcall(wsgi->send, args, rest == NULL ? 2 : 4,
                                   NULL);
        if (sent == NULL) {
            goto error;
        }
    }
    else if (close_result(wsgi, result) < 0) {
        goto error;
    }
    if (gohttp_error_stream_flush(errors) < 0 || gohttp_response_finish(w) < 0) {
        goto error;
    }
    outcome = GOHTTP_HANDLED;
    goto done;

error:
    {
        PyObject *exc = PyErr_GetRaisedException();
        if (errors != NULL && gohttp_error_stream_flush(errors) < 0) {
            PyErr_WriteUnraisable(errors);   /* what the app said first */
        }
        if (r == NULL && (r = gohttp_request_new(st, req, data)) == NULL) {
            PyErr_Clear();   /* the log line names no request then */
        }
        PyErr_SetRaisedException(exc);
    }
    gohttp_log_exception(st, "error in handler %R for %R", op,
                         r != NULL ? r : Py_None);
done:
    /* sr first: it holds w, which then may be spared too */
    spare_start_response(wsgi, sr);
    gohttp_views_end(r, w);
    Py_XDECREF(taken);
    Py_XDECREF(rest);
    Py_XDECREF(sent);
    Py_XDECREF(result);
    /* A kept environ may keep errors too (to be spared with it, the next
     * request finds it there already), else it lets go of it. */
    int held = gohttp_environ_release(
        spare, environ, wsgi->empty_input,
        errors != NULL && gohttp_error_stream_idle(errors) ? errors : NULL);
    if (spare != NULL) {
        wsgi->environ_spare = spare;
    }
    spare_errors(wsgi, errors, held);
    Py_XDECREF(input);
    return outcome;
}
