/*
 * asgi.c — ASGI 3 requests on an event loop (asgiref's www.rst).
 *
 *   ASGILoop  one asyncio (or uvloop) loop as Go sees it: the Go loop
 *             handle, the descriptor Go writes to wake it, and drain(),
 *             which the loop runs when that descriptor is readable.
 *   ASGIApp   the value of an ASGI route: the app, its root_path, its loop
 *             and the lifespan state copied into each scope.
 *   ASGICall  one request: the receive and send callables the app gets
 *             (asgicall.c).
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
#include "asgi.h"

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

PyObject *
gohttp_ready_new(gohttp_state *st, PyObject *value)
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

static PyObject *
asgi_loop_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"loop", "start", "client_disconnected", "run",
                             NULL};
    PyObject *loop, *start, *disconnected, *run;
    ASGILoopObject *self = NULL;
    gohttp_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO:ASGILoop", kwlist,
                                     &loop, &start, &disconnected, &run)) {
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
    self->run = Py_NewRef(run);
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
    Py_VISIT(self->run);
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
    Py_CLEAR(self->run);
    Py_CLEAR(self->disconnected);
    Py_CLEAR(self->calls);
    return 0;
}

static int take_batch(ASGILoopObject *self, size_t *taken, int *more,
                      int *closed);

/* Free the Go loop, once: Go then refuses its routes' requests.  The
 * loans Go gave back meanwhile are released first (bridge.h rule 8g);
 * the other events left are stale, their requests cut off. */
static void
free_go_loop(ASGILoopObject *self)
{
    size_t taken;
    int more, closed;

    if (self->handle != 0) {
        gohttp_asgi_loop_close(self->handle);
        do {
            if (take_batch(self, &taken, &more, &closed) < 0) {
                PyErr_WriteUnraisable(NULL);
                break;
            }
            for (size_t i = 0; i < taken; i++) {
                if (self->events[i].kind == GOHTTP_ASGI_RELEASE) {
                    gohttp_asgi_release_loan(self->events[i].loan);
                }
            }
        } while (more);
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

/* A NEW or WS_CONNECT event: make the call and start the app's task.  0, or -1 with an
 * exception set (the call is finished then: Go answers 500). */
static int
on_new(ASGILoopObject *self, const gohttp_asgi_event *ev, const char *data)
{
    gohttp_state *st = self->state;
    gohttp_route *route = (gohttp_route *)ev->app;
    ASGIAppObject *app = ASGIApp_CAST(route->handler);
    PyObject *scope = NULL, *result = NULL;
    int rc = -1;

    ASGICallObject *call = gohttp_asgi_call_new(self, (PyObject *)app, ev);
    if (call == NULL) {
        gohttp_error err;
        (void)gohttp_asgi_finish(ev->req.call, ev->req.generation,
                                 GOHTTP_FAILED, &err);
        return -1;
    }
    PyObject *state = PyDict_Check(app->state) ? app->state : NULL;
    scope = ev->kind == GOHTTP_ASGI_WS_CONNECT
        ? gohttp_asgi_ws_scope(st, &ev->req, data, app->root_path,
                               app->path_prefix, state, app->websocket)
        : gohttp_asgi_scope(st, &ev->req, data, app->root_path,
                            app->path_prefix, state);
    if (scope == NULL) {
        goto done;
    }
    /* call.task = start(run(app, scope, call)), no Python frame between */
    PyObject *args[3] = {app->app, scope, (PyObject *)call};
    PyObject *coro = PyObject_Vectorcall(self->run, args, 3, NULL);
    if (coro == NULL) {
        goto done;
    }
    result = PyObject_CallOneArg(self->start, coro);
    Py_DECREF(coro);
    if (result != NULL && !call->finished) {
        Py_XSETREF(call->task, Py_NewRef(result));
    }
    rc = result != NULL ? 0 : -1;
done:
    if (rc < 0) {
        PyObject *exc = PyErr_GetRaisedException();
        gohttp_asgi_call_finish(call, GOHTTP_FAILED);
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
    if (ev->kind == GOHTTP_ASGI_NEW || ev->kind == GOHTTP_ASGI_WS_CONNECT) {
        return on_new(self, ev, data);
    }
    if (ev->kind == GOHTTP_ASGI_RELEASE) {   /* of no request */
        gohttp_asgi_release_loan(ev->loan);
        return 0;
    }
    ASGICallObject *call = call_of(self, ev);
    if (call == NULL) {
        return PyErr_Occurred() ? -1 : 0;   /* stale: the app is done */
    }
    Py_INCREF(call);   /* resolving a future may run code that drops it */
    int rc = gohttp_asgi_call_event(call, ev, data);
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

/* Take a batch of Go's events into self->events (*taken of them; their
 * bytes in self->buf, grown when one does not fit).  *more: call again at
 * once; *closed: gohttp_asgi_loop_close was called.  0, or -1 with an
 * exception set. */
static int
take_batch(ASGILoopObject *self, size_t *taken, int *more, int *closed)
{
    size_t used, need;
    gohttp_error err;

    gohttp_status status = gohttp_asgi_take(
        self->handle, self->events, NEVENTS, self->buf, self->capacity,
        taken, &used, &need, more, closed, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err);
    }
    if (need > self->capacity) {   /* one request block is that large */
        char *grown = PyMem_RawRealloc(self->buf, need);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->buf = grown;
        self->capacity = need;
    }
    return 0;
}

static PyObject *
asgi_loop_drain(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ASGILoopObject *self = ASGILoop_CAST(op);
    size_t taken;
    int more, closed = 0;

    if (check_loop(self) < 0) {
        return NULL;
    }
    Py_INCREF(self);   /* an app may drop the last other reference */
    do {
        if (take_batch(self, &taken, &more, &closed) < 0) {
            Py_DECREF(self);
            return NULL;
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
"ASGILoop(loop, start, client_disconnected, run)\n--\n\n"
"An event loop as Go sees it.  loop is the asyncio loop that polls fd\n"
"and calls drain(); each new request's app runs in the task\n"
"start(run(app, scope, call)) returns, kept as call.task;\n"
"client_disconnected is the exception class send() raises once the\n"
"client has gone.  Made by gohttp.asgi.");

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
    static char *kwlist[] = {"app", "root_path", "loop", "path_prefix",
                             "websocket", NULL};
    PyObject *app, *root_path, *loop, *path_prefix = NULL;
    int websocket = 0;
    gohttp_state *st = PyType_GetModuleState(tp);

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OUO!|Up:ASGIApp", kwlist,
                                     &app, &root_path, st->ASGILoopType,
                                     &loop, &path_prefix, &websocket)) {
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
    self->websocket = (char)websocket;
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
        "ASGIApp(app, root_path, loop, path_prefix='', websocket=False)\n"
        "--\n\n"
        "The value of an ASGI route (Server.handle_asgi): app, served on\n"
        "loop, an ASGILoop, mounted at root_path.  path_prefix (a root\n"
        "path a proxy took off) goes before each scope's path.  With\n"
        "websocket, the route serves WebSocket handshakes only (Go answers\n"
        "other requests 426), their scopes with path_params.  Made by\n"
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

int
gohttp_asgi_app_websocket(PyObject *app)
{
    return ASGIApp_CAST(app)->websocket;
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

