/*
 * capi.c — gohttp's C API for other extensions: the capsule
 * gohttp._gohttp._C_API and the function table behind
 * gohttp/include/gohttp.h.
 *
 * A C handler's route runs without Python: Go calls c_dispatch straight
 * from the request's goroutine (go/chandler.go), c_dispatch calls the
 * extension's handler, and the handler's reads and writes cross back into
 * Go through the same gohttp_call_* exports a Python ResponseWriter uses.
 * Like Go's ResponseWriter, the response headers stay on this side (in
 * the call's own buffer) until the response starts, so that a small
 * response costs one crossing back: status, headers and body together.
 *
 * gohttp.h's types are opaque to the extension; here they are one struct
 * on c_dispatch's stack, which lives exactly as long as the handler call
 * (gohttp.h: "valid only until the handler returns").  Nothing here is
 * shared between calls but the route, which is read-only while serving.
 */
#include "module.h"
#include "gohttp.h"

#include <stdio.h>
#include <string.h>

/* A C handler route.  Owned by its server (server.c); Go holds its
 * address as the handler value until the server is freed. */
struct gohttp_c_route {
    gohttp_handler handler;
    void *ctx;                /* the extension's */
    gohttp_release release;   /* or NULL */
};

struct gohttp_req {
    const gohttp_request *req;  /* borrowed from Go: the handler call */
    const char *data;           /* borrowed from Go: the handler call */
    struct gohttp_rw *w;        /* the call's other half */
};

struct gohttp_rw {
    struct gohttp_req r;
    uintptr_t call;             /* the Go call and its generation */
    uint64_t generation;
    int code;                   /* what write_header chose; 0: none yet */
    int started;                /* the status and headers went to Go */
    int aborted;
    char *headers;              /* packed list (bridge.h): key, value, ... */
    size_t headers_len;
    size_t headers_cap;
    gohttp_error err;           /* the last failure, for api->error */
    char stack[1024];           /* where headers start out */
};

/* ---- errors ------------------------------------------------------------ */

static int
fail(gohttp_rw *w, const char *message)
{
    w->err.sys_errno = 0;
    snprintf(w->err.message, sizeof w->err.message, "%s", message);
    return -1;
}

static int
check_live(gohttp_rw *w)
{
    if (w->aborted) {
        return fail(w, "the handler aborted the response");
    }
    return 0;
}

/* ---- the request ------------------------------------------------------- */

static gohttp_str
field(const gohttp_req *r, int which)
{
    gohttp_span span = r->req->field[which];
    return (gohttp_str){r->data + span.off, span.len};
}

static gohttp_str req_method(const gohttp_req *r) { return field(r, GOHTTP_F_METHOD); }
static gohttp_str req_url(const gohttp_req *r) { return field(r, GOHTTP_F_URL); }
static gohttp_str req_path(const gohttp_req *r) { return field(r, GOHTTP_F_PATH); }
static gohttp_str req_query(const gohttp_req *r) { return field(r, GOHTTP_F_QUERY); }
static gohttp_str req_host(const gohttp_req *r) { return field(r, GOHTTP_F_HOST); }
static gohttp_str req_proto(const gohttp_req *r) { return field(r, GOHTTP_F_PROTO); }
static gohttp_str req_scheme(const gohttp_req *r) { return field(r, GOHTTP_F_SCHEME); }
static gohttp_str req_remote_addr(const gohttp_req *r) { return field(r, GOHTTP_F_REMOTE_ADDR); }

/* Read the item of a packed list at *p (bridge.h) and step past it. */
static gohttp_str
next_item(const char **p)
{
    uint32_t n;
    memcpy(&n, *p, sizeof n);
    gohttp_str item = {*p + sizeof n, n};
    *p = item.ptr + n;
    return item;
}

static int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
equal_fold(gohttp_str s, const char *name, size_t len)
{
    if (s.len != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (ascii_lower((unsigned char)s.ptr[i])
            != ascii_lower((unsigned char)name[i])) {
            return 0;
        }
    }
    return 1;
}

static gohttp_str
req_header(const gohttp_req *r, const char *name)
{
    gohttp_str key, value;
    size_t len = strlen(name);
    const char *p = field(r, GOHTTP_F_HEADERS).ptr;
    for (uint32_t i = 0; i < r->req->header_count; i++) {
        key = next_item(&p);
        value = next_item(&p);
        if (equal_fold(key, name, len)) {
            return value;
        }
    }
    return (gohttp_str){NULL, 0};
}

static size_t
req_header_count(const gohttp_req *r)
{
    return r->req->header_count;
}

static int
req_header_at(const gohttp_req *r, size_t i, gohttp_str *name,
              gohttp_str *value)
{
    if (i >= r->req->header_count) {
        return -1;
    }
    const char *p = field(r, GOHTTP_F_HEADERS).ptr;
    for (size_t j = 0;; j++) {
        *name = next_item(&p);
        *value = next_item(&p);
        if (j == i) {
            return 0;
        }
    }
}

static gohttp_str
req_path_value(const gohttp_req *r, const char *name)
{
    gohttp_str key, value;
    size_t len = strlen(name);
    const char *p = field(r, GOHTTP_F_PATH_VALUES).ptr;
    for (uint32_t i = 0; i < r->req->path_value_count; i++) {
        key = next_item(&p);
        value = next_item(&p);
        if (key.len == len && memcmp(key.ptr, name, len) == 0) {
            return value;
        }
    }
    return (gohttp_str){"", 0};
}

static int64_t
req_content_length(const gohttp_req *r)
{
    return r->req->content_length;
}

static int64_t
req_read(const gohttp_req *r, void *buf, size_t n)
{
    gohttp_rw *w = r->w;
    size_t got = 0;
    if (check_live(w) < 0) {
        return -1;
    }
    gohttp_status status = gohttp_call_read(w->call, w->generation, buf, n,
                                            &got, &w->err);
    return status == GOHTTP_OK ? (int64_t)got : -1;
}

/* ---- the response headers --------------------------------------------- */

/* 1 if c may appear in a header name (an HTTP token, RFC 9110). */
static int
is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Check a header change; 0, or -1 with the reason in w. */
static int
check_header(gohttp_rw *w, const char *name, const char *value)
{
    if (check_live(w) < 0) {
        return -1;
    }
    if (w->started || w->code != 0) {
        return fail(w, "the response has already started: headers can no "
                       "longer change (set them before write_header(), "
                       "write() and flush())");
    }
    if (name == NULL || name[0] == '\0') {
        return fail(w, "a header name must be a non-empty string");
    }
    for (const char *p = name; *p; p++) {
        if (!is_token_char((unsigned char)*p)) {
            return fail(w, "invalid header name: header names are HTTP "
                           "tokens (letters, digits and !#$%&'*+-.^_`|~)");
        }
    }
    if (value != NULL && strpbrk(value, "\r\n") != NULL) {
        return fail(w, "invalid header value: it may not contain CR or LF");
    }
    return 0;
}

/* Make room for need more bytes of headers; 0, or -1 with the reason. */
static int
reserve(gohttp_rw *w, size_t need)
{
    if (need <= w->headers_cap - w->headers_len) {
        return 0;
    }
    size_t cap = w->headers_cap * 2;
    while (cap - w->headers_len < need) {
        cap *= 2;
    }
    /* Without the GIL: the raw allocator (it is thread-safe). */
    char *buf = PyMem_RawMalloc(cap);
    if (buf == NULL) {
        return fail(w, "out of memory for the response headers");
    }
    memcpy(buf, w->headers, w->headers_len);
    if (w->headers != w->stack) {
        PyMem_RawFree(w->headers);
    }
    w->headers = buf;
    w->headers_cap = cap;
    return 0;
}

/* Append one packed-list item; room must have been reserved. */
static char *
put_item(char *p, const char *s, size_t len)
{
    uint32_t n = (uint32_t)len;
    memcpy(p, &n, sizeof n);
    memcpy(p + sizeof n, s, len);
    return p + sizeof n + len;
}

/* Remove every pair whose key is name (already canonical, len bytes). */
static void
remove_pairs(gohttp_rw *w, const char *name, size_t len)
{
    const char *p = w->headers, *end = w->headers + w->headers_len;
    char *out = w->headers;
    while (p < end) {
        const char *pair = p;
        gohttp_str key = next_item(&p);
        (void)next_item(&p);
        size_t size = (size_t)(p - pair);
        if (key.len == len && memcmp(key.ptr, name, len) == 0) {
            continue;
        }
        memmove(out, pair, size);
        out += size;
    }
    w->headers_len = (size_t)(out - w->headers);
}

/* Go's canonical form of a valid header name, as textproto writes it:
 * "content-type" → "Content-Type".  buf has len bytes. */
static void
canonical_key(char *buf, const char *name, size_t len)
{
    int upper = 1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (upper && c >= 'a' && c <= 'z') {
            c -= 'a' - 'A';
        }
        else if (!upper && c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        buf[i] = c;
        upper = c == '-';
    }
}

/* The shared work of set, add and del: value NULL deletes. */
static int
change_header(gohttp_rw *w, const char *name, const char *value, int replace)
{
    if (check_header(w, name, value) < 0) {
        return -1;
    }
    size_t nlen = strlen(name), vlen = value != NULL ? strlen(value) : 0;
    if (nlen > UINT32_MAX || vlen > UINT32_MAX) {
        return fail(w, "header too large");
    }
    size_t need = 2 * sizeof(uint32_t) + nlen + vlen;
    /* Reserve first: the canonical name is written where it will stay. */
    if (value != NULL && reserve(w, need) < 0) {
        return -1;
    }
    char canonical[256], *key = nlen <= sizeof canonical ? canonical : NULL;
    if (key == NULL && (key = PyMem_RawMalloc(nlen)) == NULL) {
        return fail(w, "out of memory for the response headers");
    }
    canonical_key(key, name, nlen);
    if (replace) {
        remove_pairs(w, key, nlen);
    }
    if (value != NULL) {
        char *p = w->headers + w->headers_len;
        p = put_item(p, key, nlen);
        p = put_item(p, value, vlen);
        w->headers_len = (size_t)(p - w->headers);
    }
    if (key != canonical) {
        PyMem_RawFree(key);
    }
    return 0;
}

static int
rw_set_header(gohttp_rw *w, const char *name, const char *value)
{
    if (value == NULL) {
        return fail(w, "set_header(): value is NULL: use del_header()");
    }
    return change_header(w, name, value, 1);
}

static int
rw_add_header(gohttp_rw *w, const char *name, const char *value)
{
    if (value == NULL) {
        return fail(w, "add_header(): value is NULL");
    }
    return change_header(w, name, value, 0);
}

static int
rw_del_header(gohttp_rw *w, const char *name)
{
    return change_header(w, name, NULL, 1);
}

/* ---- the response ------------------------------------------------------ */

/* Send the status (write_header's, else 200), the headers and the first
 * n bytes of body in one crossing; store the body bytes written. */
static int
commit(gohttp_rw *w, int code, const void *body, size_t n, size_t *written)
{
    int sent = 0;
    gohttp_status status = gohttp_call_write_header(
        w->call, w->generation, code, w->headers, w->headers_len,
        (char *)body, n, written, &sent, &w->err);
    if (sent && (code >= 200 || code == 101)) {
        w->started = 1;   /* even if the body part failed */
    }
    return status == GOHTTP_OK ? 0 : -1;
}

static int
final_code(gohttp_rw *w)
{
    return w->code != 0 ? w->code : 200;
}

static int
rw_write_header(gohttp_rw *w, int code)
{
    size_t unused;
    if (check_live(w) < 0) {
        return -1;
    }
    if (w->started || w->code != 0) {
        return fail(w, "the response has already started: write_header() "
                       "comes once, before write() and flush()");
    }
    if (code < 100 || code > 999) {
        return fail(w, "invalid status code: want 100 to 999");
    }
    if (code < 200 && code != 101) {
        return commit(w, code, NULL, 0, &unused);   /* 1xx: at once */
    }
    w->code = code;   /* sent with the first write, or at the end */
    return 0;
}

static int64_t
rw_write(gohttp_rw *w, const void *buf, size_t n)
{
    size_t written = 0;
    if (check_live(w) < 0) {
        return -1;
    }
    if (!w->started) {
        if (commit(w, final_code(w), buf, n, &written) < 0) {
            return -1;
        }
        return (int64_t)written;
    }
    if (n == 0) {
        return 0;
    }
    gohttp_status status = gohttp_call_write(w->call, w->generation,
                                             (char *)buf, n, &written,
                                             &w->err);
    return status == GOHTTP_OK ? (int64_t)written : -1;
}

static int
rw_flush(gohttp_rw *w)
{
    size_t unused;
    if (check_live(w) < 0
        || (!w->started && commit(w, final_code(w), NULL, 0, &unused) < 0)) {
        return -1;
    }
    gohttp_status status = gohttp_call_flush(w->call, w->generation, &w->err);
    return status == GOHTTP_OK ? 0 : -1;
}

static void
rw_abort(gohttp_rw *w)
{
    w->aborted = 1;
}

static const char *
rw_error(const gohttp_rw *w)
{
    return w->err.message;
}

/* ---- one request ------------------------------------------------------- */

/* The gohttp_dispatch_fn Go calls for a C handler route (bridge.h,
 * go/chandler.go), on the request's goroutine, without the GIL. */
static gohttp_outcome
c_dispatch(uintptr_t handler, const gohttp_request *req, const char *data)
{
    gohttp_c_route *route = (gohttp_c_route *)handler;
    gohttp_rw w;
    w.r.req = req;
    w.r.data = data;
    w.r.w = &w;
    w.call = req->call;
    w.generation = req->generation;
    w.code = 0;
    w.started = 0;
    w.aborted = 0;
    w.headers = w.stack;
    w.headers_len = 0;
    w.headers_cap = sizeof w.stack;
    w.err.sys_errno = 0;
    w.err.message[0] = '\0';

    route->handler(&w, &w.r, route->ctx);

    gohttp_outcome outcome = GOHTTP_HANDLED;
    if (w.aborted) {
        outcome = GOHTTP_FAILED;
    }
    else if (!w.started && (w.code != 0 || w.headers_len > 0)) {
        /* Headers set, or a status chosen, but nothing written.  If it
         * fails, the client has gone: there is no one left to tell. */
        size_t unused;
        (void)commit(&w, final_code(&w), NULL, 0, &unused);
    }
    if (w.headers != w.stack) {
        PyMem_RawFree(w.headers);
    }
    return outcome;
}

/* ---- registering ------------------------------------------------------- */

/* api->handle: see gohttp.h. */
static int
capi_handle(PyObject *server, const char *pattern, gohttp_handler handler,
            void *ctx, gohttp_release release)
{
    PyObject *core = NULL;
    gohttp_c_route *route = NULL;
    int rc = -1;

    if (server == NULL || pattern == NULL || handler == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "gohttp C API handle(): server, pattern and handler "
                        "must not be NULL");
        return -1;
    }
    if (gohttp_is_server(server)) {
        core = Py_NewRef(server);
    }
    else {
        /* A gohttp.Server (gohttp/server.py) wraps the core in _core. */
        core = PyObject_GetAttrString(server, "_core");
        if (core == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                return -1;
            }
            PyErr_Clear();
        }
        if (core == NULL || !gohttp_is_server(core)) {
            PyErr_Format(PyExc_TypeError,
                         "a C handler is registered on a gohttp.Server, not "
                         "%.200s", Py_TYPE(server)->tp_name);
            goto done;
        }
    }
    route = PyMem_RawMalloc(sizeof *route);
    if (route == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    route->handler = handler;
    route->ctx = ctx;
    route->release = release;
    if (gohttp_server_add_c_route(core, pattern, route) < 0) {
        PyMem_RawFree(route);   /* ctx stays the caller's: no release */
        goto done;
    }
    rc = 0;   /* the server owns route now */
done:
    Py_XDECREF(core);
    return rc;
}

void
gohttp_c_route_free(gohttp_c_route *route)
{
    if (route->release != NULL) {
        route->release(route->ctx);
    }
    PyMem_RawFree(route);
}

/* ---- the capsule ------------------------------------------------------- */

static const gohttp_capi capi_table = {
    .version = GOHTTP_CAPI_VERSION,
    .size = sizeof(gohttp_capi),
    .handle = capi_handle,
    .method = req_method,
    .url = req_url,
    .path = req_path,
    .query = req_query,
    .host = req_host,
    .proto = req_proto,
    .scheme = req_scheme,
    .remote_addr = req_remote_addr,
    .header = req_header,
    .header_count = req_header_count,
    .header_at = req_header_at,
    .path_value = req_path_value,
    .content_length = req_content_length,
    .read = req_read,
    .set_header = rw_set_header,
    .add_header = rw_add_header,
    .del_header = rw_del_header,
    .write_header = rw_write_header,
    .write = rw_write,
    .flush = rw_flush,
    .abort = rw_abort,
    .error = rw_error,
};

void
gohttp_capi_init(void)
{
    gohttp_set_c_dispatch(c_dispatch);
}

int
gohttp_capi_add(PyObject *module)
{
    /* The table is static and const; the capsule only lends it. */
    PyObject *capsule = PyCapsule_New((void *)&capi_table,
                                      GOHTTP_CAPSULE_NAME, NULL);
    if (capsule == NULL) {
        return -1;
    }
    int rc = PyModule_AddObjectRef(module, "_C_API", capsule);
    Py_DECREF(capsule);
    return rc;
}
