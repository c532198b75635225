/*
 * _gohttpmodule.c — the gohttp._gohttp extension module: Go's net/http,
 * linked in statically, serving Python handlers.
 *
 * One Go runtime lives in the process, started when this module's shared
 * object is loaded.  Hence one interpreter only
 * (Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED), and no use after fork():
 * the Go runtime's threads do not survive it.
 */
#include "module.h"

#include <pthread.h>
#include <stdarg.h>

/* ---- the fork guard ------------------------------------------------- */

/* Set in a child process right after fork(), when the child has one
 * thread; read-only everywhere else. */
static volatile int forked_child = 0;

static void
mark_forked_child(void)
{
    forked_child = 1;
}

/* Return 0, or -1 with gohttp.ForkedProcessError if this process is a
 * fork of the one that started the Go runtime.  Call it before any call
 * into Go. */
int
gohttp_check_fork(void)
{
    if (forked_child) {
        PyErr_SetString(gohttp_exc.ForkedProcessError,
            "gohttp cannot be used in a process forked after it was "
            "imported: the Go runtime does not survive fork(). For "
            "worker processes, use gohttp's own (gohttp APP --workers N, "
            "or run(workers=N)), which start fresh interpreters; "
            "otherwise start them with multiprocessing's 'spawn' method, "
            "or import gohttp only in the child. gunicorn --preload and "
            "other pre-fork servers cannot run gohttp");
        return -1;
    }
    return 0;
}

/* ---- errors --------------------------------------------------------- */

/* gohttp's exception classes.  They are made once per process, by the
 * first exec of this module, and never freed: one Go runtime means one
 * interpreter (Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED), and a module
 * imported again must raise the very classes that `except gohttp.Error`
 * names.  Every module object holds a reference to each as an attribute. */
gohttp_exceptions gohttp_exc;

typedef struct {
    PyObject **slot;
    const char *name;       /* as in gohttp.<name> */
    PyObject **base;        /* a class made before; NULL: Exception */
    PyObject **also;        /* a second base, or NULL */
    const char *doc;
} exception_spec;

static const exception_spec exception_specs[] = {
    {&gohttp_exc.Error, "gohttp.Error", NULL, NULL,
     "Base class of the errors gohttp raises itself."},
    {&gohttp_exc.StateError, "gohttp.StateError", &gohttp_exc.Error,
     &PyExc_RuntimeError,
     "An object was used in a state that does not allow it, such as\n"
     "write_header() after the response started.  Also a RuntimeError."},
    {&gohttp_exc.RequestFinishedError, "gohttp.RequestFinishedError",
     &gohttp_exc.StateError, NULL,
     "A ResponseWriter or Request was used after its handler returned."},
    {&gohttp_exc.ServerStateError, "gohttp.ServerStateError",
     &gohttp_exc.StateError, NULL,
     "The server cannot do that now: it was started already, is serving,\n"
     "or was shut down."},
    {&gohttp_exc.ForkedProcessError, "gohttp.ForkedProcessError",
     &gohttp_exc.StateError, NULL,
     "gohttp was used in a process forked after it was imported: the Go\n"
     "runtime does not survive fork()."},
};

/* Make the exception classes unless a former exec made them, and add
 * them to module.  0, or -1 with an exception set. */
static int
add_exceptions(PyObject *module)
{
    const size_t n = sizeof(exception_specs) / sizeof(exception_specs[0]);
    for (size_t i = 0; i < n; i++) {
        const exception_spec *spec = &exception_specs[i];
        if (*spec->slot == NULL) {
            PyObject *base = spec->base != NULL ? *spec->base
                                                : PyExc_Exception;
            PyObject *bases = spec->also != NULL
                ? PyTuple_Pack(2, base, *spec->also)
                : PyTuple_Pack(1, base);
            if (bases == NULL) {
                return -1;
            }
            /* new reference, kept for the life of the process */
            *spec->slot = PyErr_NewExceptionWithDoc(spec->name, spec->doc,
                                                    bases, NULL);
            Py_DECREF(bases);
            if (*spec->slot == NULL) {
                return -1;
            }
        }
        if (PyModule_AddObjectRef(module, strchr(spec->name, '.') + 1,
                                  *spec->slot) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Set the Python exception for a failed call into Go and return -1.
 * The one place where bridge.h statuses become exceptions. */
int
gohttp_raise(gohttp_status status, const gohttp_error *err)
{
    const char *msg = err != NULL && err->message[0] ? err->message
                                                    : "unknown error";
    switch (status) {
    case GOHTTP_EINVAL:
        PyErr_SetString(PyExc_ValueError, msg);
        break;
    case GOHTTP_ESTATE:
        PyErr_SetString(gohttp_exc.StateError, msg);
        break;
    case GOHTTP_EFINISHED:
        PyErr_SetString(gohttp_exc.RequestFinishedError, msg);
        break;
    case GOHTTP_ECLOSED:
        PyErr_SetString(gohttp_exc.ServerStateError, msg);
        break;
    case GOHTTP_ETIMEOUT:
        PyErr_SetString(PyExc_TimeoutError, msg);
        break;
    case GOHTTP_EIO:
        if (err != NULL && err->sys_errno != 0) {
            /* OSError(errno, msg) picks the subclass: BrokenPipeError... */
            PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is",
                                                  (int)err->sys_errno, msg);
            if (exc != NULL) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
        }
        else {
            PyErr_SetString(PyExc_OSError, msg);
        }
        break;
    case GOHTTP_EPANIC:
        PyErr_Format(PyExc_RuntimeError,
                     "internal error in gohttp's Go code: %s", msg);
        break;
    default:
        PyErr_Format(PyExc_SystemError, "unexpected gohttp status %d: %s",
                     (int)status, msg);
    }
    return -1;
}

/* Log the raised exception, which this clears, to the "gohttp.error" logger;
 * the message is PyUnicode_FromFormat(format, ...).  Call with the GIL.
 * An exception that cannot be logged is reported as unraisable. */
void
gohttp_log_exception(gohttp_state *st, const char *format, ...)
{
    PyObject *exc = NULL, *message = NULL, *result = NULL;
    va_list vargs;
    exc = PyErr_GetRaisedException();   /* module.h has it for 3.10 */
    if (exc == NULL) {
        return;
    }
    va_start(vargs, format);
    message = PyUnicode_FromFormatV(format, vargs);
    va_end(vargs);
    if (message != NULL) {
        PyObject *args[] = {st->logger, message, exc};
        result = PyObject_VectorcallMethod(st->str_error, args,
                                           2,
                                           st->kwnames_exc_info);
    }
    if (result == NULL) {
        PyErr_WriteUnraisable(st->logger);
    }
    Py_XDECREF(result);
    Py_XDECREF(message);
    Py_DECREF(exc);
}

/* ---- module-level functions ---------------------------------------- */

PyDoc_STRVAR(close_gate_doc,
"_close_gate(timeout)\n--\n\n"
"Refuse every later handler call with 503 and wait up to timeout seconds\n"
"for those in progress to leave Python.  Called at interpreter exit, after\n"
"every server was shut down, so that no Go thread enters a finalizing\n"
"interpreter.  Returns True if none was left in Python.");

static PyObject *
close_gate(PyObject *module, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    if (timeout == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return PyBool_FromLong(gohttp_gate_close(timeout));
}

PyDoc_STRVAR(thread_states_doc,
"_thread_states()\n--\n\n"
"How many Python thread states gohttp has made for Go's threads: one per\n"
"OS thread that ran a handler, not one per request.  For tests.");

static PyObject *
thread_states(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(gohttp_thread_states_made());
}

PyDoc_STRVAR(go_procs_doc,
"_go_procs(n=0, /)\n--\n\n"
"How many OS threads may run Go code at once (Go's GOMAXPROCS): the CPUs,\n"
"unless the environment set GOMAXPROCS, as the supervisor does for its\n"
"workers.  An n of 1 or more sets it (runtime.GOMAXPROCS(n)) and returns\n"
"the one before: gohttp's import does, where a cgroup CPU quota allows\n"
"fewer CPUs than Go counts (gohttp/_cpus.py).");

static PyObject *
go_procs(PyObject *module, PyObject *args)
{
    int n = 0;

    if (!PyArg_ParseTuple(args, "|i:_go_procs", &n)) {
        return NULL;
    }
    return PyLong_FromLong(gohttp_go_procs(n));
}

PyDoc_STRVAR(goroutines_doc,
"_goroutines()\n--\n\n"
"How many goroutines the Go runtime has now: connections, requests in\n"
"flight, and the runtime's own.  For the soak and the leak tests, which\n"
"check that they go back down once the load stops.");

static PyObject *
goroutines(PyObject *module, PyObject *unused)
{
    return PyLong_FromLongLong(gohttp_goroutines());
}

PyDoc_STRVAR(goroutine_stacks_doc,
"_goroutine_stacks()\n--\n\n"
"The stacks of every goroutine, as Go's runtime.Stack writes them (at\n"
"most 4 MiB).  For the soak, which saves them when goroutines are left\n"
"over.");

static PyObject *
goroutine_stacks(PyObject *module, PyObject *unused)
{
    const size_t capacity = 4 << 20;
    size_t n = 0;
    PyObject *result = NULL;
    char *buf = PyMem_RawMalloc(capacity);   /* Go writes it: see bridge.h */
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    gohttp_goroutine_stacks(buf, capacity, &n);
    Py_END_ALLOW_THREADS
    result = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "replace");
    PyMem_RawFree(buf);
    return result;
}

PyDoc_STRVAR(code_allows_body_doc,
"_code_allows_body(code)\n--\n\n"
"Whether a response with this status code may have a body: bridge.h's\n"
"rule, for the WSGI adapter's Python path.");

static PyObject *
code_allows_body(PyObject *module, PyObject *arg)
{
    int overflow = 0;
    long code = PyLong_AsLongAndOverflow(arg, &overflow);
    if (code == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyBool_FromLong(!overflow && code >= 0 && code <= 999
                           && gohttp_code_allows_body((int)code));
}

static PyMethodDef gohttp_functions[] = {
    {"_code_allows_body", code_allows_body, METH_O, code_allows_body_doc},
    {"_close_gate", close_gate, METH_O, close_gate_doc},
    {"_thread_states", thread_states, METH_NOARGS, thread_states_doc},
    {"_go_procs", go_procs, METH_VARARGS, go_procs_doc},
    {"_goroutines", goroutines, METH_NOARGS, goroutines_doc},
    {"_goroutine_stacks", goroutine_stacks, METH_NOARGS,
     goroutine_stacks_doc},
    {"canonical_key", gohttp_canonical_key_function, METH_O,
     gohttp_canonical_key_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- module state and init ------------------------------------------ */

static int
gohttp_traverse(PyObject *module, visitproc visit, void *arg)
{
    gohttp_state *st = PyModule_GetState(module);
    Py_VISIT(st->ServerType);
    Py_VISIT(st->RequestType);
    Py_VISIT(st->ResponseWriterType);
    Py_VISIT(st->spare_writer);
    Py_VISIT(st->spare_request);
    Py_VISIT(st->spare_headers);
    for (int i = 0; i < st->nspare_lists; i++) {
        Py_VISIT(st->spare_lists[i]);
    }
    Py_VISIT(st->HeadersType);
    Py_VISIT(st->WSGIAppType);
    Py_VISIT(st->StartResponseType);
    Py_VISIT(st->ErrorStreamType);
    Py_VISIT(st->logger);
    Py_VISIT(st->ASGILoopType);
    Py_VISIT(st->ASGIAppType);
    Py_VISIT(st->ASGICallType);
    Py_VISIT(st->ReadyType);
    Py_VISIT(st->ASGIGuardType);
    Py_VISIT(st->asgi_done);
    for (int i = 0; i < 3; i++) {
        Py_VISIT(st->mapping_views[i]);
    }
    return 0;
}

static int
gohttp_clear(PyObject *module)
{
    gohttp_state *st = PyModule_GetState(module);
    Py_CLEAR(st->ServerType);
    Py_CLEAR(st->RequestType);
    Py_CLEAR(st->spare_writer);
    Py_CLEAR(st->spare_request);
    Py_CLEAR(st->spare_headers);
    while (st->nspare_lists > 0) {
        Py_CLEAR(st->spare_lists[--st->nspare_lists]);
    }
    gohttp_checked_clear(&st->checked);
    gohttp_packed_clear(&st->packed);
    Py_CLEAR(st->ResponseWriterType);
    Py_CLEAR(st->HeadersType);
    Py_CLEAR(st->WSGIAppType);
    Py_CLEAR(st->StartResponseType);
    Py_CLEAR(st->ErrorStreamType);
    gohttp_environ_clear_state(st);
    Py_CLEAR(st->ASGILoopType);
    Py_CLEAR(st->ASGIAppType);
    Py_CLEAR(st->ASGICallType);
    Py_CLEAR(st->ReadyType);
    Py_CLEAR(st->ASGIGuardType);
    Py_CLEAR(st->asgi_done);
    gohttp_scope_clear_state(st);
    gohttp_headers_clear_state(st);
    Py_CLEAR(st->logger);
    Py_CLEAR(st->str_error);
    Py_CLEAR(st->str_content_length);
    Py_CLEAR(st->str_fileno);
    Py_CLEAR(st->kwnames_exc_info);
    return 0;
}

static void
gohttp_free(void *module)
{
    gohttp_clear((PyObject *)module);
}

static PyTypeObject *
add_type(PyObject *module, PyType_Spec *spec)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, (PyTypeObject *)type) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return (PyTypeObject *)type;   /* new reference, kept by the state */
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static int process_init_failed = 0;

/* Once per process: the fork guard and the per-thread state key. */
static void
process_init(void)
{
    if (pthread_atfork(NULL, NULL, mark_forked_child) != 0
        || gohttp_dispatch_init() < 0 || gohttp_headers_init() < 0) {
        process_init_failed = 1;
        return;
    }
    gohttp_set_dispatch(gohttp_dispatch);
    gohttp_capi_init();
}

static int
gohttp_exec(PyObject *module)
{
    gohttp_state *st = PyModule_GetState(module);
    PyObject *logging = NULL;
    int rc = -1;

    if (add_exceptions(module) < 0) {
        return -1;
    }
    if (gohttp_check_fork() < 0) {
        return -1;
    }
    pthread_once(&process_once, process_init);
    if (process_init_failed) {
        PyErr_SetString(PyExc_RuntimeError,
                        "gohttp: could not set up per-thread state");
        return -1;
    }

    if (gohttp_capi_add(module) < 0) {
        goto done;
    }
    st->ServerType = add_type(module, &gohttp_server_spec);
    st->RequestType = add_type(module, &gohttp_request_spec);
    st->ResponseWriterType = add_type(module, &gohttp_response_spec);
    st->HeadersType = add_type(module, &gohttp_headers_spec);
    st->WSGIAppType = add_type(module, &gohttp_wsgi_app_spec);
    st->StartResponseType = add_type(module, &gohttp_start_response_spec);
    st->ErrorStreamType = add_type(module, &gohttp_error_stream_spec);
    if (!st->ServerType || !st->RequestType || !st->ResponseWriterType
        || !st->HeadersType || !st->WSGIAppType || !st->StartResponseType
        || !st->ErrorStreamType || gohttp_environ_init_state(st) < 0
        || gohttp_headers_init_state(st) < 0) {
        goto done;
    }
    st->ASGILoopType = add_type(module, &gohttp_asgi_loop_spec);
    st->ASGIAppType = add_type(module, &gohttp_asgi_app_spec);
    st->ASGICallType = add_type(module, &gohttp_asgi_call_spec);
    st->ReadyType = add_type(module, &gohttp_ready_spec);
    st->ASGIGuardType = add_type(module, &gohttp_asgi_guard_spec);
    if (!st->ASGILoopType || !st->ASGIAppType || !st->ASGICallType
        || !st->ReadyType || !st->ASGIGuardType
        || gohttp_asgi_init_state(st) < 0) {
        goto done;
    }
    logging = PyImport_ImportModule("logging");
    if (logging == NULL) {
        goto done;
    }
    st->logger = PyObject_CallMethod(logging, "getLogger", "s",
                                     "gohttp.error");
    st->str_error = PyUnicode_InternFromString("error");
    st->str_content_length = PyUnicode_InternFromString("Content-Length");
    st->str_fileno = PyUnicode_InternFromString("fileno");
    st->kwnames_exc_info = Py_BuildValue("(s)", "exc_info");
    if (!st->logger || !st->str_error || !st->str_content_length || !st->str_fileno
        || !st->kwnames_exc_info) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(logging);
    return rc;
}

static PyModuleDef_Slot gohttp_slots[] = {
    {Py_mod_exec, gohttp_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    /* True, and kept true: no C state here relies on the GIL (each file
     * says how it guards its own), so a free-threaded interpreter keeps
     * the GIL off after import and handlers run in parallel. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(gohttp_doc,
"Go's net/http serving Python handlers.  Use the gohttp package, not this.");

PyModuleDef gohttp_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gohttp._gohttp",
    .m_doc = gohttp_doc,
    .m_size = sizeof(gohttp_state),
    .m_methods = gohttp_functions,
    .m_slots = gohttp_slots,
    .m_traverse = gohttp_traverse,
    .m_clear = gohttp_clear,
    .m_free = gohttp_free,
};

PyMODINIT_FUNC
PyInit__gohttp(void)
{
    return PyModuleDef_Init(&gohttp_module);
}
