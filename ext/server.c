/*
 * server.c — gohttp._gohttp.Server: one Go http.Server with its ServeMux.
 *
 * Ownership: a Server owns its routes, Python and C (PyMem_Raw memory,
 * see module.h); Go holds each route's address as a handler value.  A route is freed
 * only when Go can no longer call it: after gohttp_server_free reported
 * that no handler is left in C.  While serving, a Server holds a
 * reference to itself, so that it lives on while Go serves even if
 * Python drops it; the reference goes when the server has stopped.
 *
 * Threads: any thread may call a Server's methods at once (free-threaded
 * builds run them truly in parallel).  The fields a method changes
 * (routes, serving, port) change and are read in the object's critical
 * section; handle changes only when no other thread can reach the object
 * (dealloc, or the GC clearing a cycle).  Go guards its own server.
 */
#include "module.h"

#include <float.h>
#include <string.h>

/* How long the main thread waits in Go before it checks for signals. */
#define WAIT_SLICE_NS (50 * 1000 * 1000)

typedef struct {
    PyObject_HEAD
    gohttp_state *state;     /* borrowed: the type keeps the module alive */
    uintptr_t handle;        /* the Go server; 0 once freed */
    gohttp_route **routes;   /* PyMem_Raw array of PyMem_Raw routes */
    Py_ssize_t nroutes;
    Py_ssize_t capacity;
    gohttp_c_route **c_routes;   /* the C API's routes (capi.c), likewise */
    Py_ssize_t nc_routes;
    Py_ssize_t c_capacity;
    int serving;             /* holds a reference to itself */
    int port;
} ServerObject;

#define Server_CAST(op) ((ServerObject *)(op))

static int
check_handle(ServerObject *self)
{
    if (gohttp_check_fork() < 0) {
        return -1;
    }
    if (self->handle == 0) {
        PyErr_SetString(gohttp_exc.ServerStateError, "the server was freed");
        return -1;
    }
    return 0;
}

/* 1 if Go may not be called: a forked child, or a freed server. */
static int
forked_or_freed(ServerObject *self)
{
    if (self->handle == 0 || gohttp_check_fork() < 0) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* Drop the reference a serving server holds to itself, once: threads
 * that see the server stop at the same moment (wait(), shutdown(), the
 * serving property) all come here, and only the first may drop it. */
static void
stop_serving(ServerObject *self)
{
    int was_serving;
    Py_BEGIN_CRITICAL_SECTION((PyObject *)self);
    was_serving = self->serving;
    self->serving = 0;
    Py_END_CRITICAL_SECTION();
    if (was_serving) {
        Py_DECREF(self);   /* the caller holds another reference */
    }
}

/* Read an int field of a server that another method may be setting. */
static int
read_field(ServerObject *self, const int *field)
{
    int value;
    Py_BEGIN_CRITICAL_SECTION((PyObject *)self);
    value = *field;
    Py_END_CRITICAL_SECTION();
    return value;
}

/* 1 if Python threads run in parallel: a free-threaded build whose GIL
 * is off (PYTHON_GIL=1, or importing an extension that needs the GIL,
 * turns it on), else 0; -1 with an exception set. */
static int
handlers_run_in_parallel(void)
{
#ifdef Py_GIL_DISABLED
    PyObject *sys = PyImport_ImportModule("sys"), *enabled = NULL;
    int rc = -1;
    if (sys != NULL) {
        enabled = PyObject_CallMethod(sys, "_is_gil_enabled", NULL);
    }
    if (enabled != NULL) {
        rc = PyObject_IsTrue(enabled);
        rc = rc < 0 ? -1 : !rc;
    }
    Py_XDECREF(enabled);
    Py_XDECREF(sys);
    return rc;
#else
    return 0;
#endif
}

/* Free the Go server and, if Go can no longer call them, the routes. */
static void
free_go_server(ServerObject *self)
{
    gohttp_status status = GOHTTP_OK;
    if (self->handle != 0) {
        uintptr_t handle = self->handle;
        self->handle = 0;
        /* It may wait for handlers, which need the GIL. */
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_server_free(handle);
        Py_END_ALLOW_THREADS
    }
    if (status != GOHTTP_OK) {
        return;   /* a handler still runs: leak its route rather than crash */
    }
    for (Py_ssize_t i = 0; i < self->nroutes; i++) {
        Py_CLEAR(self->routes[i]->handler);
        PyMem_RawFree(self->routes[i]);
    }
    PyMem_RawFree(self->routes);
    self->routes = NULL;
    self->nroutes = self->capacity = 0;
    for (Py_ssize_t i = 0; i < self->nc_routes; i++) {
        gohttp_c_route_free(self->c_routes[i]);
    }
    PyMem_RawFree(self->c_routes);
    self->c_routes = NULL;
    self->nc_routes = self->c_capacity = 0;
}

/* A PyMem_Raw array of n items of size bytes, *capacity in all, with
 * room for one more: items itself, or the array moved to a larger block
 * (updating *capacity).  NULL with MemoryError, items left as it was. */
static void *
room_for_one(void *items, Py_ssize_t n, Py_ssize_t *capacity, size_t size)
{
    if (n < *capacity) {
        return items;
    }
    Py_ssize_t grown = *capacity ? *capacity * 2 : 8;
    void *resized = PyMem_RawRealloc(items, (size_t)grown * size);
    if (resized == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *capacity = grown;
    return resized;
}

static PyObject *
server_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"max_handlers", NULL};
    int max_handlers = 64;
    gohttp_error err;
    ServerObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$i:Server", kwlist,
                                     &max_handlers)) {
        return NULL;
    }
    if (gohttp_check_fork() < 0) {
        return NULL;
    }
    int parallel = handlers_run_in_parallel();
    if (parallel < 0) {
        return NULL;
    }
    self = (ServerObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->state = PyType_GetModuleState(type);
    gohttp_status status = gohttp_server_new(max_handlers, parallel,
                                              &self->handle, &err);
    if (status != GOHTTP_OK) {
        Py_DECREF(self);
        gohttp_raise(status, &err);
        return NULL;
    }
    return (PyObject *)self;
}

static int
server_traverse(PyObject *op, visitproc visit, void *arg)
{
    ServerObject *self = Server_CAST(op);
    Py_VISIT(Py_TYPE(op));
    for (Py_ssize_t i = 0; i < self->nroutes; i++) {
        Py_VISIT(self->routes[i]->handler);
    }
    return 0;
}

static int
server_clear(PyObject *op)
{
    ServerObject *self = Server_CAST(op);
    if (!self->serving) {   /* while serving, Go may call any route */
        free_go_server(self);
    }
    return 0;
}

static void
server_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    free_go_server(Server_CAST(op));
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(handle_doc,
"handle(pattern, handler, /)\n--\n\n"
"Route requests matching pattern (a Go ServeMux pattern such as\n"
"'GET /items/{id}') to handler(w, req).  Raises ValueError with Go's\n"
"message for a bad pattern or one that conflicts with another route.");

static PyObject *add_route(ServerObject *self, PyObject *pattern,
                           PyObject *handler, int asgi);

static PyObject *
server_handle(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "handle() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyCallable_Check(args[1])) {
        PyErr_Format(PyExc_TypeError,
                     "handler must be callable as handler(w, req), not "
                     "%.200s", Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    return add_route(Server_CAST(op), args[0], args[1], 0);
}

PyDoc_STRVAR(handle_asgi_doc,
"handle_asgi(pattern, app, /)\n--\n\n"
"Route requests matching pattern to app, an ASGIApp: they run on its\n"
"loop (see gohttp.asgi).  Raises ValueError as handle() does.");

static PyObject *
server_handle_asgi(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "handle_asgi() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    return add_route(Server_CAST(op), args[0], args[1], 1);
}

/* Register handler for pattern: a Python handler, or with asgi an
 * ASGIApp, whose requests Go sends to its loop. */
static PyObject *
add_route(ServerObject *self, PyObject *pattern, PyObject *handler, int asgi)
{
    PyObject *op = (PyObject *)self;
    PyObject *result = NULL;
    gohttp_route *route = NULL;
    uintptr_t loop = 0;

    if (!PyUnicode_Check(pattern)) {
        PyErr_Format(PyExc_TypeError, "pattern must be str, not %.200s",
                     Py_TYPE(pattern)->tp_name);
        return NULL;
    }
    if (asgi && (loop = gohttp_asgi_app_loop(self->state, handler)) == 0) {
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(pattern, &len);
    if (s == NULL) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_handle(self) < 0) {
        goto done;
    }
    gohttp_route **routes = room_for_one(self->routes, self->nroutes,
                                         &self->capacity, sizeof *routes);
    if (routes == NULL) {
        goto done;
    }
    self->routes = routes;
    route = PyMem_RawMalloc(sizeof *route);
    if (route == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    route->handler = Py_NewRef(handler);
    route->server = op;
    route->state = self->state;
    gohttp_error err;
    gohttp_status status = asgi
        ? gohttp_server_handle_asgi(self->handle, (char *)s, (size_t)len,
                                    loop, (uintptr_t)route,
                                    gohttp_asgi_app_websocket(handler), &err)
        : gohttp_server_handle(self->handle, (char *)s, (size_t)len,
                               (uintptr_t)route, &err);
    if (status != GOHTTP_OK) {
        Py_DECREF(route->handler);
        PyMem_RawFree(route);
        gohttp_raise(status, &err);
        goto done;
    }
    self->routes[self->nroutes++] = route;   /* the server owns it now */
    result = Py_NewRef(Py_None);
done:
    Py_END_CRITICAL_SECTION();
    return result;
}

int
gohttp_is_server(PyObject *obj)
{
    /* Every Server type (one per import of the module) has this dealloc;
     * the type allows no subclasses. */
    return Py_TYPE(obj)->tp_dealloc == server_dealloc;
}

int
gohttp_server_add_c_route(PyObject *op, const char *pattern,
                          gohttp_c_route *route)
{
    ServerObject *self = Server_CAST(op);
    int rc = -1;

    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_handle(self) < 0) {
        goto done;
    }
    gohttp_c_route **routes = room_for_one(self->c_routes, self->nc_routes,
                                           &self->c_capacity, sizeof *routes);
    if (routes == NULL) {
        goto done;
    }
    self->c_routes = routes;
    gohttp_error err;
    gohttp_status status = gohttp_server_handle_c(
        self->handle, (char *)pattern, strlen(pattern), (uintptr_t)route,
        &err);
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    self->c_routes[self->nc_routes++] = route;   /* the server owns it now */
    rc = 0;
done:
    Py_END_CRITICAL_SECTION();
    return rc;
}

/* Seconds (a number, or None for no limit) to nanoseconds.  The values
 * gohttp.Server takes are checked in gohttp/_options.py; this refuses
 * only what has no int64 nanoseconds (the cast would be undefined). */
static int
seconds_to_ns(PyObject *obj, const char *name, int64_t *ns)
{
    if (obj == Py_None) {
        *ns = 0;
        return 0;
    }
    double seconds = PyFloat_AsDouble(obj);
    if (seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a number of seconds or None, not %.200s",
                     name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!(seconds >= 0.0 && seconds < 1e9)) {
        PyErr_Format(PyExc_ValueError,
                     "%s must be between 0 and 1e9 seconds, not %R",
                     name, obj);
        return -1;
    }
    *ns = (int64_t)(seconds * 1e9);
    return 0;
}

/* An access log format's name to its bridge.h value; -1 with ValueError
 * (gohttp/_options.py lists the names gohttp.Server takes). */
static int
log_format_from_name(const char *name)
{
    static const struct {
        const char *name;
        gohttp_log_format format;
    } formats[] = {
        {"combined", GOHTTP_LOG_COMBINED},
        {"common", GOHTTP_LOG_COMMON},
        {"json", GOHTTP_LOG_JSON},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(name, formats[i].name) == 0) {
            return (int)formats[i].format;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "access_log_format must be 'combined', 'common' or 'json', "
                 "not '%.100s'", name);
    return -1;
}

/* A client certificate policy's name to its bridge.h value
 * (gohttp_config.ssl_cert_reqs); -1 with ValueError (gohttp/_options.py
 * reads the forms gohttp.Server takes). */
static int
cert_reqs_from_name(const char *name)
{
    static const char *const names[] = {"none", "optional", "required"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "ssl_cert_reqs must be 'none', 'optional' or 'required', "
                 "not '%.100s'", name);
    return -1;
}

/* The bind addresses (a sequence of str) as an array Go reads while the
 * GIL is released: *array is PyMem_Raw memory (PyMem_RawFree it), whose
 * strings live in *keep (a new reference: a tuple that holds them). */
static int
binds_to_array(PyObject *binds, PyObject **keep, const char ***array,
               Py_ssize_t *n)
{
    *keep = NULL;
    *array = NULL;
    *n = 0;
    if (binds == Py_None) {
        return 0;
    }
    if (PyUnicode_Check(binds)) {
        PyErr_SetString(PyExc_TypeError,
                        "binds must be a sequence of addresses, not one str: "
                        "write binds=[\"127.0.0.1:8000\"]");
        return -1;
    }
    PyObject *tuple = PySequence_Tuple(binds);   /* new reference */
    if (tuple == NULL) {
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(tuple);
    if (count > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many bind addresses");
        goto error;
    }
    *array = PyMem_RawMalloc((size_t)(count ? count : 1) * sizeof **array);
    if (*array == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);   /* borrowed */
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "bind addresses must be str, not %.200s",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(item, &len);
        if (s == NULL) {
            goto error;
        }
        if ((Py_ssize_t)strlen(s) != len) {
            PyErr_SetString(PyExc_ValueError,
                            "embedded null character in a bind address");
            goto error;
        }
        (*array)[i] = s;   /* owned by item, which tuple keeps alive */
    }
    *keep = tuple;
    *n = count;
    return 0;
error:
    PyMem_RawFree(*array);
    *array = NULL;
    Py_DECREF(tuple);
    return -1;
}

PyDoc_STRVAR(listen_doc,
"listen(host, port, *, read_header_timeout=None, read_timeout=None,\n"
"       write_timeout=None, idle_timeout=None, max_header_bytes=0,\n"
"       max_body_bytes=0, max_connections=0, binds=None, certfile=None,\n"
"       keyfile=None, http2_cleartext=False, access_log=None,\n"
"       access_log_format='combined', forwarded_allow_ips=None,\n"
"       reuse_port=False, ssl_keyfile_password=None, ssl_ca_certs=None,\n"
"       ssl_cert_reqs='none', ssl_min_version=None, ssl_ciphers=None,\n"
"       ws_max_size=0, ws_ping_interval=None, ws_ping_timeout=None,\n"
"       ws_per_message_deflate=False, ws_max_connections=0,\n"
"       http3=False, http3_bind=None, http3_0rtt=False,\n"
"       tcp_keepalive=15)\n"
"--\n\n"
"Bind host:port (host None: none) and every address of binds\n"
"('HOST:PORT', '[::1]:PORT', 'unix:PATH', 'fd://N'), and serve them in\n"
"the background; return the port of the first TCP listener (port 0\n"
"lets the OS pick).  Timeouts are seconds, None for no limit; limits 0\n"
"for none.  certfile and keyfile (PEM) serve TLS, with HTTP/2 by ALPN;\n"
"the ssl_ options are gohttp.Server's (checked there).\n"
"access_log is '-' (standard error) or a file path.  reuse_port sets\n"
"SO_REUSEPORT on TCP listeners, so that other processes may listen on\n"
"the same address.  The ws_ options are gohttp.Server's, 0 and None for\n"
"none (ws_max_size 0: 16 MiB).\n"
"http3 (with TLS) also serves HTTP/3 on UDP at http3_bind, None for\n"
"the first TCP listener's host and port.\n"
"tcp_keepalive: seconds of silence before TCP keep-alive probes on\n"
"accepted connections (then as often, 9 of them); 0 for none.\n"
"Raises OSError if an address cannot be bound or a file cannot be read,\n"
"ValueError for a bad option or a certificate that does not match its\n"
"key (nothing is bound then), gohttp.ServerStateError if the server is serving or\n"
"was shut down.");

static PyObject *
server_listen(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"host", "port", "read_header_timeout",
                             "read_timeout", "write_timeout",
                             "idle_timeout", "max_header_bytes",
                             "max_body_bytes", "max_connections", "binds",
                             "certfile", "keyfile", "http2_cleartext",
                             "access_log", "access_log_format",
                             "forwarded_allow_ips", "reuse_port",
                             "ssl_keyfile_password", "ssl_ca_certs",
                             "ssl_cert_reqs", "ssl_min_version",
                             "ssl_ciphers", "ws_max_size",
                             "ws_ping_interval", "ws_ping_timeout",
                             "ws_per_message_deflate", "ws_max_connections",
                             "http3", "http3_bind", "http3_0rtt",
                             "tcp_keepalive", NULL};
    ServerObject *self = Server_CAST(op);
    const char *host;
    int port;
    PyObject *rht = Py_None, *rt = Py_None, *wt = Py_None, *it = Py_None;
    long long max_header_bytes = 0, max_body_bytes = 0;
    int max_connections = 0, http2_cleartext = 0, reuse_port = 0;
    int http3 = 0, http3_0rtt = 0, tcp_keepalive = 15;
    const char *http3_bind = NULL;
    PyObject *binds = Py_None, *keep = NULL;
    const char **bind_array = NULL;
    Py_ssize_t nbinds = 0;
    const char *certfile = NULL, *keyfile = NULL, *access_log = NULL;
    const char *access_log_format = "combined", *forwarded_allow_ips = NULL;
    const char *keyfile_password = NULL, *ca_certs = NULL;
    const char *cert_reqs = "none", *min_version = NULL, *ciphers = NULL;
    long long ws_max_size = 0;
    PyObject *ws_ping = Py_None, *ws_ping_timeout = Py_None;
    int ws_deflate = 0, ws_max_connections = 0;
    gohttp_config cfg = {0};
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs,
                                     "zi|$OOOOLLiOzzpzszpzzszzLOOpipzpi:listen",
                                     kwlist,
                                     &host, &port, &rht, &rt, &wt, &it,
                                     &max_header_bytes, &max_body_bytes,
                                     &max_connections, &binds, &certfile,
                                     &keyfile, &http2_cleartext, &access_log,
                                     &access_log_format,
                                     &forwarded_allow_ips, &reuse_port,
                                     &keyfile_password, &ca_certs,
                                     &cert_reqs, &min_version, &ciphers,
                                     &ws_max_size, &ws_ping,
                                     &ws_ping_timeout, &ws_deflate,
                                     &ws_max_connections, &http3,
                                     &http3_bind, &http3_0rtt,
                                     &tcp_keepalive)) {
        return NULL;
    }
    int client_auth = cert_reqs_from_name(cert_reqs);
    if (client_auth < 0) {
        return NULL;
    }
    int format = log_format_from_name(access_log_format);
    if (format < 0) {
        return NULL;
    }
    if (seconds_to_ns(rht, "read_header_timeout",
                      &cfg.read_header_timeout_ns) < 0
        || seconds_to_ns(rt, "read_timeout", &cfg.read_timeout_ns) < 0
        || seconds_to_ns(wt, "write_timeout", &cfg.write_timeout_ns) < 0
        || seconds_to_ns(it, "idle_timeout", &cfg.idle_timeout_ns) < 0
        || seconds_to_ns(ws_ping, "ws_ping_interval",
                         &cfg.ws_ping_interval_ns) < 0
        || seconds_to_ns(ws_ping_timeout, "ws_ping_timeout",
                         &cfg.ws_ping_timeout_ns) < 0) {
        return NULL;
    }
    if (binds_to_array(binds, &keep, &bind_array, &nbinds) < 0) {
        return NULL;
    }
    cfg.host = host;
    cfg.port = port;
    cfg.max_header_bytes = max_header_bytes;
    cfg.max_body_bytes = max_body_bytes;
    cfg.max_connections = max_connections;
    cfg.binds = bind_array;
    cfg.nbinds = (int32_t)nbinds;
    cfg.certfile = certfile;
    cfg.keyfile = keyfile;
    cfg.http2_cleartext = http2_cleartext;
    cfg.access_log = access_log;
    cfg.access_log_format = format;
    cfg.forwarded_allow_ips = forwarded_allow_ips;
    cfg.reuse_port = reuse_port;
    cfg.ssl_keyfile_password = keyfile_password;
    cfg.ssl_ca_certs = ca_certs;
    cfg.ssl_cert_reqs = client_auth;
    cfg.ssl_min_version = min_version;
    cfg.ssl_ciphers = ciphers;
    cfg.ws_max_size = ws_max_size;
    cfg.ws_per_message_deflate = ws_deflate;
    cfg.ws_max_connections = ws_max_connections;
    cfg.http3 = http3;
    cfg.http3_bind = http3_bind;
    cfg.http3_0rtt = http3_0rtt;
    cfg.tcp_keepalive = tcp_keepalive;

    Py_BEGIN_CRITICAL_SECTION(op);
    if (check_handle(self) < 0) {
        goto done;
    }
    uintptr_t handle = self->handle;
    int32_t bound = 0;
    gohttp_error err;
    gohttp_status status;
    Py_BEGIN_ALLOW_THREADS
    status = gohttp_server_listen(handle, &cfg, &bound, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto done;
    }
    self->port = bound;
    if (!self->serving) {
        self->serving = 1;
        Py_INCREF(op);   /* dropped by stop_serving */
    }
    result = PyLong_FromLong(bound);
done:
    Py_END_CRITICAL_SECTION();
    PyMem_RawFree(bind_array);
    Py_XDECREF(keep);
    return result;
}

PyDoc_STRVAR(reload_tls_doc,
"reload_tls()\n--\n\n"
"Load the certificate and key from their files again, for the\n"
"handshakes to come.  If they cannot be loaded the current certificate\n"
"stays: OSError for a file that cannot be read, ValueError for a bad\n"
"pair; gohttp.ServerStateError if the server does not serve TLS.");

static PyObject *
server_reload_tls(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ServerObject *self = Server_CAST(op);
    gohttp_error err;
    gohttp_status status;

    if (check_handle(self) < 0) {
        return NULL;
    }
    uintptr_t handle = self->handle;
    Py_BEGIN_ALLOW_THREADS   /* it reads files */
    status = gohttp_server_reload_tls(handle, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(metrics_listen_doc,
"metrics_listen(address, /, *, supervisor=False)\n--\n\n"
"Open the metrics listener on address ('HOST:PORT' or 'unix:PATH'),\n"
"which serves /metrics, /healthz and /readyz from Go; before listen().\n"
"/readyz says 'starting' until set_ready(1).  Returns its port (0 for a\n"
"Unix socket).  OSError if it cannot be bound.  A supervisor's server\n"
"(supervisor=True) never serves: its /metrics shows its workers'\n"
"(metrics_workers).");

static PyObject *
server_metrics_listen(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"", "supervisor", NULL};
    ServerObject *self = Server_CAST(op);
    gohttp_error err;
    gohttp_status status;
    int32_t port = 0;
    const char *address = NULL;   /* borrowed from args */
    int supervisor = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|$p:metrics_listen",
                                     kwlist, &address, &supervisor)) {
        return NULL;
    }
    if (check_handle(self) < 0) {
        return NULL;
    }
    uintptr_t handle = self->handle;
    Py_BEGIN_ALLOW_THREADS   /* it binds a socket */
    status = gohttp_server_metrics_listen(handle, (char *)address,
                                          supervisor, &port, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    return PyLong_FromLong(port);
}

PyDoc_STRVAR(metrics_workers_doc,
"metrics_workers(spec, /)\n--\n\n"
"Set the workers a supervisor's /metrics shows: spec is lines\n"
"'LABEL=PATH', each a worker's label and the Unix socket its metrics\n"
"listener is on.");

static PyObject *
server_metrics_workers(PyObject *op, PyObject *arg)
{
    ServerObject *self = Server_CAST(op);
    gohttp_error err;
    gohttp_status status;

    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "spec must be str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const char *spec = PyUnicode_AsUTF8(arg);   /* borrowed, lives with arg */
    if (spec == NULL || check_handle(self) < 0) {
        return NULL;
    }
    status = gohttp_server_metrics_workers(self->handle, (char *)spec, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_ready_doc,
"set_ready(state, /)\n--\n\n"
"Set what the metrics listener's /readyz says: 0 starting, 1 ready,\n"
"2 draining (a shutdown sets 2 itself).  gohttp.ServerStateError without\n"
"a metrics listener.");

static PyObject *
server_set_ready(PyObject *op, PyObject *arg)
{
    ServerObject *self = Server_CAST(op);
    gohttp_error err;
    gohttp_status status;

    long state = PyLong_AsLong(arg);
    if (state == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (state < 0 || state > 2) {
        PyErr_Format(PyExc_ValueError, "state must be 0, 1 or 2, not %ld",
                     state);
        return NULL;
    }
    if (check_handle(self) < 0) {
        return NULL;
    }
    status = gohttp_server_set_ready(self->handle, (int32_t)state, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(static_doc,
"static(prefix, directory, /, *, listing=False)\n--\n\n"
"Serve the files under directory for the URL subtree prefix (such as\n"
"'/static/'), by Go alone: no Python runs for these requests.  With\n"
"listing False, a directory without an index.html is 404.  Raises\n"
"FileNotFoundError or NotADirectoryError if directory is not one, and\n"
"ValueError for a bad prefix or one that conflicts with a route.");

static PyObject *
server_static(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"", "", "listing", NULL};
    ServerObject *self = Server_CAST(op);
    PyObject *prefix, *directory = NULL;   /* directory: new reference, bytes */
    int listing = 0;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UO&|$p:static", kwlist,
                                     &prefix, PyUnicode_FSConverter,
                                     &directory, &listing)) {
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(prefix, &len);
    if (s == NULL) {
        goto error;
    }
    if (check_handle(self) < 0) {
        goto error;
    }
    uintptr_t handle = self->handle;
    const char *dir = PyBytes_AS_STRING(directory);
    gohttp_error err;
    gohttp_status status;
    /* It opens the directory: that may block, so without the GIL.  The
     * strings stay alive: this frame holds prefix and directory. */
    Py_BEGIN_ALLOW_THREADS
    status = gohttp_server_static(handle, (char *)s, (size_t)len,
                                  (char *)dir, listing, &err);
    Py_END_ALLOW_THREADS
    if (status != GOHTTP_OK) {
        gohttp_raise(status, &err);
        goto error;
    }
    result = Py_NewRef(Py_None);
error:
    Py_XDECREF(directory);
    return result;
}

PyDoc_STRVAR(addresses_doc,
"addresses()\n--\n\n"
"The addresses the server listens on, as listen() bound them:\n"
"['127.0.0.1:8000', '[::1]:8000', 'unix:/run/app.sock']; [] before.");

static PyObject *
server_addresses(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ServerObject *self = Server_CAST(op);
    char stack[1024];
    char *buf = stack;
    size_t capacity = sizeof stack, size = 0;
    PyObject *list = NULL, *result = NULL;
    gohttp_error err;

    if (check_handle(self) < 0) {
        return NULL;
    }
    for (;;) {
        gohttp_status status = gohttp_server_addresses(self->handle, buf,
                                                       capacity, &size, &err);
        if (status != GOHTTP_OK) {
            gohttp_raise(status, &err);
            goto error;
        }
        if (size <= capacity) {
            break;
        }
        if (buf != stack) {
            PyMem_RawFree(buf);
        }
        capacity = size;
        buf = PyMem_RawMalloc(capacity);   /* Go writes it */
        if (buf == NULL) {
            PyErr_NoMemory();
            goto error;
        }
    }
    list = PyList_New(0);
    if (list == NULL) {
        goto error;
    }
    /* A packed list (bridge.h): a uint32_t length, then the bytes. */
    for (size_t off = 0; off + sizeof(uint32_t) <= size;) {
        uint32_t n;
        memcpy(&n, buf + off, sizeof n);
        off += sizeof n;
        if (n > size - off) {
            PyErr_SetString(PyExc_SystemError, "malformed address list");
            goto error;
        }
        PyObject *item = PyUnicode_DecodeUTF8(buf + off, n, "surrogateescape");
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            goto error;
        }
        Py_DECREF(item);
        off += n;
    }
    result = Py_NewRef(list);
error:
    Py_XDECREF(list);
    if (buf != stack) {
        PyMem_RawFree(buf);
    }
    return result;
}

/* Wait up to timeout_ns (< 0: forever) for the server to stop, in slices,
 * checking for signals between them.  Returns 1 if stopped (with *forced
 * set), 0 on timeout, -1 with an exception set (a signal handler raised,
 * or serving failed). */
static int
wait_stopped(ServerObject *self, int64_t timeout_ns, int *forced)
{
    uintptr_t handle = self->handle;
    for (;;) {
        int64_t slice = WAIT_SLICE_NS;
        if (timeout_ns >= 0 && timeout_ns < slice) {
            slice = timeout_ns;
        }
        gohttp_error err;
        gohttp_status status;
        Py_BEGIN_ALLOW_THREADS
        status = gohttp_server_wait(handle, slice, forced, &err);
        Py_END_ALLOW_THREADS
        if (status == GOHTTP_OK) {
            stop_serving(self);
            return 1;
        }
        if (status != GOHTTP_ETIMEOUT) {
            stop_serving(self);
            return gohttp_raise(status, &err);
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
        if (timeout_ns >= 0) {
            timeout_ns -= slice;
            if (timeout_ns <= 0) {
                return 0;
            }
        }
    }
}

PyDoc_STRVAR(wait_doc,
"wait(timeout=None)\n--\n\n"
"Block until the server has stopped, or for timeout seconds; return\n"
"True if it has stopped.  Signal handlers run meanwhile, so Ctrl-C\n"
"raises KeyboardInterrupt here.");

static PyObject *
server_wait(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    ServerObject *self = Server_CAST(op);
    PyObject *timeout = Py_None;
    int64_t ns = -1;
    int forced;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", kwlist,
                                     &timeout)) {
        return NULL;
    }
    if (timeout != Py_None && seconds_to_ns(timeout, "timeout", &ns) < 0) {
        return NULL;
    }
    if (check_handle(self) < 0) {
        return NULL;
    }
    int rc = wait_stopped(self, ns, &forced);
    return rc < 0 ? NULL : PyBool_FromLong(rc);
}

PyDoc_STRVAR(shutdown_doc,
"shutdown(timeout=5.0)\n--\n\n"
"Stop serving gracefully: close the listener, let in-flight requests\n"
"finish for up to timeout seconds, then close the connections left.\n"
"Return True if every request finished in time.  Harmless when the\n"
"server never started or has stopped.  Called from one of this server's\n"
"own handlers, it starts the shutdown and returns False at once, since\n"
"waiting would wait for that very handler.");

static PyObject *
server_shutdown(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    ServerObject *self = Server_CAST(op);
    PyObject *timeout = NULL;
    int64_t ns = 5000000000LL;
    int forced = 0;
    gohttp_error err;
    gohttp_status status;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:shutdown", kwlist,
                                     &timeout)) {
        return NULL;
    }
    if (timeout != NULL && seconds_to_ns(timeout, "timeout", &ns) < 0) {
        return NULL;
    }
    if (gohttp_check_fork() < 0) {
        return NULL;
    }
    if (self->handle == 0) {
        Py_RETURN_TRUE;
    }
    int from_own_handler = gohttp_current_server() == op;
    /* Start it in Go's background; then wait here, with signals checked,
     * unless this thread is one of the handlers it would wait for. */
    status = gohttp_server_shutdown(self->handle, ns, 0, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    if (from_own_handler) {
        Py_RETURN_FALSE;
    }
    if (wait_stopped(self, -1, &forced) < 0) {
        return NULL;
    }
    return PyBool_FromLong(!forced);
}

static PyObject *
get_port(PyObject *op, void *closure)
{
    ServerObject *self = Server_CAST(op);
    return PyLong_FromLong(read_field(self, &self->port));
}

static PyObject *
get_handled(PyObject *op, void *closure)
{
    ServerObject *self = Server_CAST(op);
    uint64_t count = 0;
    gohttp_error err;

    if (check_handle(self) < 0) {
        return NULL;
    }
    gohttp_status status = gohttp_server_handled(self->handle, &count, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    return PyLong_FromUnsignedLongLong(count);
}

static PyObject *
get_http3_port(PyObject *op, void *closure)
{
    ServerObject *self = Server_CAST(op);
    int port = 0;
    gohttp_error err;

    if (check_handle(self) < 0) {
        return NULL;
    }
    gohttp_status status = gohttp_server_http3_port(self->handle, &port, &err);
    if (status != GOHTTP_OK) {
        return gohttp_raise(status, &err), NULL;
    }
    return PyLong_FromLong(port);
}

static PyObject *
get_serving(PyObject *op, void *closure)
{
    ServerObject *self = Server_CAST(op);
    if (read_field(self, &self->serving) && !forked_or_freed(self)) {
        /* It may have stopped with no one waiting: a shutdown started by
         * one of its handlers, or a failed listener.  Ask Go. */
        int forced;
        gohttp_error err;
        gohttp_status status = gohttp_server_wait(self->handle, 0, &forced,
                                                  &err);
        if (status != GOHTTP_ETIMEOUT) {
            stop_serving(self);
        }
    }
    return PyBool_FromLong(read_field(self, &self->serving));
}

static PyGetSetDef server_getset[] = {
    {"port", get_port, NULL,
     PyDoc_STR("The bound port once listening, else 0."), NULL},
    {"http3_port", get_http3_port, NULL,
     PyDoc_STR("The UDP port HTTP/3 listens on once listening (the one "
               "the OS picked for port 0), else 0."), NULL},
    {"handled", get_handled, NULL,
     PyDoc_STR("How many requests have run a handler, since the server "
               "was made (static files and Go's own 404s not counted)."),
     NULL},
    {"serving", get_serving, NULL,
     PyDoc_STR("True from listen() until the server has stopped."), NULL},
    {NULL},
};

static PyMethodDef server_methods[] = {
    {"handle", (PyCFunction)(void (*)(void))server_handle, METH_FASTCALL,
     handle_doc},
    {"handle_asgi", (PyCFunction)(void (*)(void))server_handle_asgi,
     METH_FASTCALL, handle_asgi_doc},
    {"listen", (PyCFunction)(void (*)(void))server_listen,
     METH_VARARGS | METH_KEYWORDS, listen_doc},
    {"static", (PyCFunction)(void (*)(void))server_static,
     METH_VARARGS | METH_KEYWORDS, static_doc},
    {"addresses", server_addresses, METH_NOARGS, addresses_doc},
    {"reload_tls", server_reload_tls, METH_NOARGS, reload_tls_doc},
    {"metrics_listen", (PyCFunction)(void (*)(void))server_metrics_listen,
     METH_VARARGS | METH_KEYWORDS, metrics_listen_doc},
    {"metrics_workers", server_metrics_workers, METH_O, metrics_workers_doc},
    {"set_ready", server_set_ready, METH_O, set_ready_doc},
    {"wait", (PyCFunction)(void (*)(void))server_wait,
     METH_VARARGS | METH_KEYWORDS, wait_doc},
    {"shutdown", (PyCFunction)(void (*)(void))server_shutdown,
     METH_VARARGS | METH_KEYWORDS, shutdown_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(server_doc,
"Server(*, max_handlers=64)\n--\n\n"
"The core of gohttp.Server: a Go http.Server and its ServeMux.\n"
"max_handlers bounds how many handlers may run or wait for the GIL at\n"
"once; further requests queue in Go.");

static PyType_Slot server_slots[] = {
    {Py_tp_new, server_new},
    {Py_tp_dealloc, server_dealloc},
    {Py_tp_traverse, server_traverse},
    {Py_tp_clear, server_clear},
    {Py_tp_getset, server_getset},
    {Py_tp_methods, server_methods},
    {Py_tp_doc, (void *)server_doc},
    {0, NULL},
};

PyType_Spec gohttp_server_spec = {
    .name = "gohttp._gohttp.Server",
    .basicsize = sizeof(ServerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = server_slots,
};
