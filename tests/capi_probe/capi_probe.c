/*
 * capi_probe.c — C handlers that use gohttp's C API wrongly or at its
 * edges, for tests/test_capi.py (the well-behaved ones are the example's,
 * examples/c_handler/).  Built by the tests beside the example.
 *
 *     capi_probe.route(server, pattern, kind)   # kind: see KINDS below
 *     capi_probe.handle_raw(server, pattern, with_handler)
 *                                               # api->handle with NULLs
 *     capi_probe.last_error()                   # the "gone" handler's error
 *     capi_probe.script_result()                # (runs, what "script" did)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gohttp.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gohttp_capi *api;   /* set once by exec, read-only after */

/* What the "gone" handler saw when its client left, for last_error(). */
static char gone_error[512];
static atomic_int gone_done;

/* Writes nothing: Go sends an empty 200. */
static void
empty(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
}

/* A status and headers, but no body, sent when the handler returns. */
static void
status_only(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    api->set_header(w, "X-Status-Only", "1");
    api->write_header(w, 404);
}

static void
abort_early(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    api->set_header(w, "X-Never-Sent", "1");
    api->abort(w);
    /* Later calls fail. */
    if (api->write(w, "x", 1) != -1) {
        api->set_header(w, "X-Bug", "write after abort worked");
    }
}

static void
abort_late(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    api->set_header(w, "Content-Length", "100");
    api->write(w, "partial", 7);
    api->flush(w);
    api->abort(w);
}

/* Streams two chunks with flushes: chunked, since no Content-Length. */
static void
stream(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    api->write(w, "one,", 4);
    api->flush(w);
    api->write(w, "two", 3);
    api->flush(w);
}

/* Appends "label=rc error\n" to out. */
static void
record(char *out, size_t size, const char *label, long long rc,
       gohttp_rw *w)
{
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s=%lld %s\n", label, rc,
             rc < 0 ? api->error(w) : "");
}

/* Every mistake a handler can make with headers and status, each
 * recorded with what the API answered; then a 201 with the results. */
static void
misuse(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char out[4096] = "";
    gohttp_str name, value;
    record(out, sizeof out, "bad_name",
           api->set_header(w, "Bad Name", "v"), w);
    record(out, sizeof out, "empty_name", api->set_header(w, "", "v"), w);
    record(out, sizeof out, "crlf_value",
           api->set_header(w, "X-A", "a\r\nInjected: yes"), w);
    record(out, sizeof out, "null_value", api->set_header(w, "X-A", NULL), w);
    record(out, sizeof out, "code_42", api->write_header(w, 42), w);
    record(out, sizeof out, "code_1000", api->write_header(w, 1000), w);
    record(out, sizeof out, "header_at_out_of_range",
           api->header_at(r, api->header_count(r), &name, &value), w);
    record(out, sizeof out, "set", api->set_header(w, "x-b", "1"), w);
    record(out, sizeof out, "add", api->add_header(w, "X-B", "2"), w);
    record(out, sizeof out, "set_c", api->set_header(w, "X-C", "3"), w);
    record(out, sizeof out, "del_c", api->del_header(w, "x-C"), w);
    record(out, sizeof out, "del_absent", api->del_header(w, "X-D"), w);
    record(out, sizeof out, "replace", api->set_header(w, "X-E", "old"), w);
    record(out, sizeof out, "replace", api->set_header(w, "x-e", "new"), w);
    gohttp_str missing = api->header(r, "X-Not-Sent");
    record(out, sizeof out, "missing_header_is_null",
           missing.ptr == NULL ? 0 : -1, w);
    gohttp_str no_wildcard = api->path_value(r, "nope");
    record(out, sizeof out, "missing_path_value_is_empty",
           no_wildcard.ptr != NULL && no_wildcard.len == 0 ? 0 : -1, w);
    record(out, sizeof out, "write_header", api->write_header(w, 201), w);
    record(out, sizeof out, "write_header_again",
           api->write_header(w, 202), w);
    record(out, sizeof out, "set_late", api->set_header(w, "X-Late", "1"),
           w);
    api->write(w, out, strlen(out));
}

/* Headers too large for the reply buffer Go lends (4 KiB): 60 of 150
 * bytes each. */
static void
big_headers(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char name[32], value[151];
    memset(value, 'v', 150);
    value[150] = '\0';
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof name, "X-Big-%d", i);
        api->set_header(w, name, value);
    }
    api->write(w, "big", 3);
}

/* 2,000 writes of 10 bytes: the first ones held in the reply buffer,
 * then sent with the first that does not fit, then one by one. */
static void
pieces(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char piece[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(piece, sizeof piece, "%09d,", i);
        if (api->write(w, piece, 10) != 10) {
            api->abort(w);
            return;
        }
    }
}

/* Writes, then reads the body, then writes again. */
static void
write_then_read(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char buf[64];
    api->set_header(w, "Content-Type", "text/plain");
    api->write(w, "before:", 7);
    int64_t got = api->read(r, buf, sizeof buf);
    api->write(w, buf, got > 0 ? (size_t)got : 0);
}

/* Content-Length set by the handler: Go checks the body against it. */
static void
declared_length(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    api->set_header(w, "Content-Length", "5");
    api->write(w, "12345", 5);
}

/* Reads the body 7 bytes at a time and answers how much it got. */
static void
count_body(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char buf[7], out[64];
    long long total = 0;
    int64_t got;
    while ((got = api->read(r, buf, sizeof buf)) > 0) {
        total += got;
    }
    int n = snprintf(out, sizeof out, "%lld %lld", total, (long long)got);
    api->write(w, out, (size_t)n);
}

/* Reads the whole body, and gives up if that fails. */
static void
read_or_abort(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char buf[4096];
    int64_t got;
    while ((got = api->read(r, buf, sizeof buf)) > 0) {
    }
    if (got < 0) {
        api->abort(w);
    }
}

/* Writes until the client has gone, then keeps the error. */
static void
gone(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    static const char block[65536];
    for (int i = 0; i < 100000; i++) {
        if (api->write(w, block, sizeof block) < 0) {
            snprintf(gone_error, sizeof gone_error, "%s", api->error(w));
            break;
        }
    }
    atomic_store(&gone_done, 1);
}

/* What the last "script" did, one line per step, and how many scripts
 * have finished: tests run one request at a time. */
static char script_out[4096];
static atomic_int script_runs;

/* Runs the steps of its query string, '&' between them: cl=N sets
 * Content-Length: N, status=N calls write_header(N), write=N writes N
 * bytes (all 'a' for the first write, 'b' for the next...), flush.
 * tests/test_capi.py runs the same steps in a Python handler: both
 * answer through one writer, so both must answer alike. */
static void
script(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    char out[sizeof script_out] = "";
    gohttp_str q = api->query(r);
    int writes = 0;
    for (size_t at = 0; at < q.len;) {
        char step[64];
        size_t end = at;
        while (end < q.len && q.ptr[end] != '&') {
            end++;
        }
        size_t len = end - at < sizeof step - 1 ? end - at : sizeof step - 1;
        memcpy(step, q.ptr + at, len);
        step[len] = '\0';
        at = end + 1;
        char *eq = strchr(step, '=');
        long long n = 0, rc;
        if (eq != NULL) {
            *eq = '\0';
            n = atoll(eq + 1);
        }
        if (strcmp(step, "cl") == 0) {
            char value[24];
            snprintf(value, sizeof value, "%lld", n);
            rc = api->set_header(w, "Content-Length", value);
        }
        else if (strcmp(step, "status") == 0) {
            rc = api->write_header(w, (int)n);
        }
        else if (strcmp(step, "write") == 0) {
            char *buf = malloc(n > 0 ? (size_t)n : 1);
            if (buf == NULL) {
                api->abort(w);
                return;
            }
            memset(buf, 'a' + writes++ % 26, (size_t)n);
            rc = api->write(w, buf, (size_t)n);
            free(buf);
        }
        else if (strcmp(step, "flush") == 0) {
            rc = api->flush(w);
        }
        else {
            api->abort(w);
            return;
        }
        size_t used = strlen(out);
        if (rc < 0) {
            snprintf(out + used, sizeof out - used, "error %s\n",
                     api->error(w));
        }
        else {
            snprintf(out + used, sizeof out - used, "ok %lld\n", rc);
        }
    }
    memcpy(script_out, out, sizeof out);
    atomic_fetch_add(&script_runs, 1);
}

/* What api->tls says: "cleartext\n" (and whether it zeroed the struct),
 * or a line of the state, then each certificate of the client's chain as
 * its length, a newline and its DER bytes. */
static void
tls_state(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    gohttp_tls tls;
    memset(&tls, 0xff, sizeof tls);
    char line[512];
    if (api->tls(r, &tls) < 0) {
        int zeroed = tls.version == 0 && tls.cipher_suite == 0
                     && tls.client_certs == 0 && tls.alpn.len == 0;
        snprintf(line, sizeof line, "cleartext %s\n",
                 zeroed ? "zeroed" : "NOT ZEROED");
        api->write(w, line, strlen(line));
        return;
    }
    snprintf(line, sizeof line, "%u %u %.*s %.*s [%.*s] [%.*s] %zu\n",
             tls.version, tls.cipher_suite,
             (int)tls.version_name.len, tls.version_name.ptr,
             (int)tls.cipher_name.len, tls.cipher_name.ptr,
             (int)tls.server_name.len, tls.server_name.ptr,
             (int)tls.alpn.len, tls.alpn.ptr, tls.client_certs);
    api->write(w, line, strlen(line));
    gohttp_str der;
    for (size_t i = 0; api->tls_client_cert(r, i, &der) == 0; i++) {
        snprintf(line, sizeof line, "%zu\n", der.len);
        api->write(w, line, strlen(line));
        api->write(w, der.ptr, der.len);
    }
}

static const struct {
    const char *name;
    gohttp_handler handler;
} KINDS[] = {
    {"tls", tls_state},
    {"empty", empty},
    {"status_only", status_only},
    {"abort_early", abort_early},
    {"abort_late", abort_late},
    {"stream", stream},
    {"misuse", misuse},
    {"big_headers", big_headers},
    {"pieces", pieces},
    {"write_then_read", write_then_read},
    {"declared_length", declared_length},
    {"count_body", count_body},
    {"read_or_abort", read_or_abort},
    {"gone", gone},
    {"script", script},
};

static PyObject *
route(PyObject *module, PyObject *args)
{
    PyObject *server;
    const char *pattern, *kind;
    if (!PyArg_ParseTuple(args, "Oss:route", &server, &pattern, &kind)) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
        if (strcmp(kind, KINDS[i].name) == 0) {
            if (api->handle(server, pattern, KINDS[i].handler, NULL,
                            NULL) < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    return PyErr_Format(PyExc_ValueError, "no kind %s", kind);
}

/* api->handle(server, pattern or NULL, empty or NULL, NULL, NULL). */
static PyObject *
handle_raw(PyObject *module, PyObject *args)
{
    PyObject *server;
    const char *pattern;
    int with_handler;
    if (!PyArg_ParseTuple(args, "Ozp:handle_raw", &server, &pattern,
                          &with_handler)) {
        return NULL;
    }
    if (api->handle(server, pattern, with_handler ? empty : NULL, NULL,
                    NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
last_error(PyObject *module, PyObject *unused)
{
    if (!atomic_load(&gone_done)) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(gone_error);
}

static PyObject *
script_result(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(is)", atomic_load(&script_runs), script_out);
}

static PyMethodDef methods[] = {
    {"route", route, METH_VARARGS, NULL},
    {"handle_raw", handle_raw, METH_VARARGS, NULL},
    {"last_error", last_error, METH_NOARGS, NULL},
    {"script_result", script_result, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    return gohttp_import(&api);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},   /* handlers never touch Python */
#endif
    {0, NULL},
};

static PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "capi_probe",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit_capi_probe(void)
{
    return PyModuleDef_Init(&module_def);
}
