/*
 * environ.c — the PEP 3333 environ of a request, built in C from the
 * request block Go packed (bridge.h).
 *
 * Strings come as PEP 3333 wants them: the bytes as sent (paths after Go
 * percent-decoded them), each byte one character of a latin-1 str.
 * Request headers become HTTP_* keys, but for Content-Type and
 * Content-Length; a header whose name holds "_" is dropped, since
 * "X_Id" would pass for "X-Id" (a trick to slip a header past a proxy
 * that checks "X-Id"), and so is Proxy, which code that reads proxy
 * settings from the environment would take for one ("httpoxy").  The
 * values of a header sent several times are joined with ",", or "; " for
 * Cookie.
 */
#include "module.h"

#include <string.h>

static const char *const key_names[GOHTTP_WSGI_NKEYS] = {
    [GOHTTP_WSGI_REQUEST_METHOD] = "REQUEST_METHOD",
    [GOHTTP_WSGI_SCRIPT_NAME] = "SCRIPT_NAME",
    [GOHTTP_WSGI_PATH_INFO] = "PATH_INFO",
    [GOHTTP_WSGI_QUERY_STRING] = "QUERY_STRING",
    [GOHTTP_WSGI_REQUEST_URI] = "REQUEST_URI",
    [GOHTTP_WSGI_RAW_URI] = "RAW_URI",
    [GOHTTP_WSGI_SERVER_PROTOCOL] = "SERVER_PROTOCOL",
    [GOHTTP_WSGI_URL_SCHEME] = "wsgi.url_scheme",
    [GOHTTP_WSGI_REMOTE_ADDR] = "REMOTE_ADDR",
    [GOHTTP_WSGI_REMOTE_PORT] = "REMOTE_PORT",
    [GOHTTP_WSGI_INPUT] = "wsgi.input",
    [GOHTTP_WSGI_ERRORS] = "wsgi.errors",
    [GOHTTP_WSGI_HTTP_HOST] = "HTTP_HOST",
    [GOHTTP_WSGI_CONTENT_TYPE] = "CONTENT_TYPE",
    [GOHTTP_WSGI_CONTENT_LENGTH] = "CONTENT_LENGTH",
    [GOHTTP_WSGI_HTTPS] = "HTTPS",
    [GOHTTP_WSGI_SSL_PROTOCOL] = "SSL_PROTOCOL",
    [GOHTTP_WSGI_SSL_CIPHER] = "SSL_CIPHER",
    [GOHTTP_WSGI_SSL_TLS_SNI] = "SSL_TLS_SNI",
    [GOHTTP_WSGI_SSL_CLIENT_VERIFY] = "SSL_CLIENT_VERIFY",
    [GOHTTP_WSGI_SSL_CLIENT_CERT] = "SSL_CLIENT_CERT",
};

/* A string literal and its length. */
typedef struct {
    const char *s;
    Py_ssize_t n;
} literal;

#define LITERAL(s) {s, sizeof(s) - 1}

/* Values most requests send, each made once: a field that is one of them
 * shares its str (see new_value). */
static const literal common_values[GOHTTP_WSGI_NCOMMON_VALUES] = {
    LITERAL("GET"), LITERAL("HEAD"), LITERAL("POST"), LITERAL("PUT"),
    LITERAL("DELETE"), LITERAL("OPTIONS"), LITERAL("PATCH"),
    LITERAL("HTTP/1.1"), LITERAL("HTTP/1.0"), LITERAL("HTTP/2.0"),
    LITERAL("http"), LITERAL("https"),
};

/* Request headers browsers and proxies send, as Go canonicalizes their
 * names: their environ keys are made once (see header_key). */
static const literal common_headers[GOHTTP_WSGI_NCOMMON_HEADERS] = {
    LITERAL("Accept"), LITERAL("Accept-Encoding"), LITERAL("Accept-Language"),
    LITERAL("Authorization"), LITERAL("Cache-Control"), LITERAL("Connection"),
    LITERAL("Cookie"), LITERAL("If-Modified-Since"), LITERAL("If-None-Match"),
    LITERAL("Origin"), LITERAL("Pragma"), LITERAL("Referer"),
    LITERAL("Sec-Fetch-Dest"), LITERAL("Sec-Fetch-Mode"),
    LITERAL("Sec-Fetch-Site"), LITERAL("Upgrade-Insecure-Requests"),
    LITERAL("User-Agent"), LITERAL("X-Forwarded-For"),
    LITERAL("X-Forwarded-Proto"), LITERAL("X-Real-Ip"), LITERAL("X-Request-Id"),
};

static PyObject *new_header_key(const char *k, Py_ssize_t n);

int
gohttp_environ_init_state(gohttp_state *st)
{
    for (int i = 0; i < GOHTTP_WSGI_NKEYS; i++) {
        st->wsgi_key[i] = PyUnicode_InternFromString(key_names[i]);
        if (st->wsgi_key[i] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_VALUES; i++) {
        st->wsgi_value[i] = PyUnicode_FromStringAndSize(common_values[i].s,
                                                        common_values[i].n);
        if (st->wsgi_value[i] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_HEADERS; i++) {
        st->wsgi_header_key[i] = new_header_key(common_headers[i].s,
                                                common_headers[i].n);
        if (st->wsgi_header_key[i] == NULL) {
            return -1;
        }
        PyUnicode_InternInPlace(&st->wsgi_header_key[i]);
    }
    return 0;
}

void
gohttp_environ_clear_state(gohttp_state *st)
{
    for (int i = 0; i < GOHTTP_WSGI_NKEYS; i++) {
        Py_CLEAR(st->wsgi_key[i]);
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_VALUES; i++) {
        Py_CLEAR(st->wsgi_value[i]);
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_HEADERS; i++) {
        Py_CLEAR(st->wsgi_header_key[i]);
    }
}

/* The index in names[:count] of s[:n], or -1. */
static int
find(const literal *names, int count, const char *s, Py_ssize_t n)
{
    for (int i = 0; i < count; i++) {
        if (names[i].n == n && memcmp(names[i].s, s, (size_t)n) == 0) {
            return i;
        }
    }
    return -1;
}

/* Set env[key] to value, a new reference that this takes over (NULL: an
 * error already set).  0, or -1 with an exception set. */
static int
set_new(PyObject *env, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(env, key, value);
    Py_DECREF(value);
    return rc;
}

/* Set env[key] to the latin-1 str of s[:n].  0, or -1 with an exception. */
static int
set_latin1(PyObject *env, PyObject *key, const char *s, Py_ssize_t n)
{
    return set_new(env, key, PyUnicode_DecodeLatin1(s, n, NULL));
}

/* New reference: the latin-1 str of s[:n], or the common value it is,
 * when common; NULL with an exception set. */
static PyObject *
new_value(gohttp_state *st, const char *s, Py_ssize_t n, int common)
{
    int i = common ? find(common_values, GOHTTP_WSGI_NCOMMON_VALUES, s, n)
                   : -1;
    return i >= 0 ? Py_NewRef(st->wsgi_value[i])
                  : PyUnicode_DecodeLatin1(s, n, NULL);
}

PyObject *
gohttp_common_value(gohttp_state *st, const char *s, Py_ssize_t n)
{
    return new_value(st, s, n, 1);
}

int
gohttp_common_header(const char *k, Py_ssize_t n)
{
    return find(common_headers, GOHTTP_WSGI_NCOMMON_HEADERS, k, n);
}

const char *
gohttp_common_header_name(int i, Py_ssize_t *n)
{
    *n = common_headers[i].n;
    return common_headers[i].s;
}

static inline const char *
span(const gohttp_request *req, const char *data, int field, Py_ssize_t *n)
{
    *n = (Py_ssize_t)req->field[field].len;
    return data + req->field[field].off;
}

static inline int
is(const char *s, Py_ssize_t n, const char *literal)
{
    return (size_t)n == strlen(literal) && memcmp(s, literal, (size_t)n) == 0;
}

/* New reference: the environ key of the request header k[:n], in Go's
 * canonical form; Py_None if the header is dropped; NULL on error. */
static PyObject *
header_key(gohttp_state *st, const char *k, Py_ssize_t n)
{
    if (is(k, n, "Content-Type")) {
        return Py_NewRef(st->wsgi_key[GOHTTP_WSGI_CONTENT_TYPE]);
    }
    if (is(k, n, "Content-Length")) {
        return Py_NewRef(st->wsgi_key[GOHTTP_WSGI_CONTENT_LENGTH]);
    }
    if (is(k, n, "Proxy") || memchr(k, '_', (size_t)n) != NULL) {
        return Py_NewRef(Py_None);
    }
    int i = find(common_headers, GOHTTP_WSGI_NCOMMON_HEADERS, k, n);
    return i >= 0 ? Py_NewRef(st->wsgi_header_key[i]) : new_header_key(k, n);
}

/* New reference: "HTTP_" and the header name k[:n] in upper case, "-"
 * made "_"; Py_None for a name that is not ASCII; NULL on error. */
static PyObject *
new_header_key(const char *k, Py_ssize_t n)
{
    PyObject *key = PyUnicode_New(5 + n, 127);
    if (key == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(key);
    memcpy(out, "HTTP_", 5);
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c >= 0x80) {   /* Go refuses such names: be safe all the same */
            Py_DECREF(key);
            return Py_NewRef(Py_None);
        }
        out[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? c - 32 : c;
    }
    return key;
}

/* Split "ip:port" or "[ip]:port" into the ip and the port. */
void
gohttp_split_addr(const char *s, Py_ssize_t n, const char **host,
             Py_ssize_t *host_len, const char **port, Py_ssize_t *port_len)
{
    Py_ssize_t colon = n;
    while (colon > 0 && s[colon - 1] != ':') {
        colon--;
    }
    *host = s;
    *host_len = colon > 0 ? colon - 1 : 0;
    *port = s + colon;
    *port_len = n - colon;
    if (colon == 0) {   /* no port: a Unix socket's "@" or "" */
        *host_len = n;
        *port_len = 0;
    }
    if (*host_len >= 2 && (*host)[0] == '[' && (*host)[*host_len - 1] == ']') {
        (*host)++;
        *host_len -= 2;
    }
}

/* The keys a request sets from its own fields and that the base
 * remembers, in the order they come first in it.  Every request sets each
 * of them but HTTP_HOST, which a request without a Host header (HTTP/1.0)
 * lacks. */
static const int remembered[] = {
    GOHTTP_WSGI_SCRIPT_NAME, GOHTTP_WSGI_PATH_INFO, GOHTTP_WSGI_REQUEST_METHOD,
    GOHTTP_WSGI_QUERY_STRING, GOHTTP_WSGI_REQUEST_URI, GOHTTP_WSGI_RAW_URI,
    GOHTTP_WSGI_SERVER_PROTOCOL, GOHTTP_WSGI_URL_SCHEME,
    GOHTTP_WSGI_REMOTE_ADDR, GOHTTP_WSGI_HTTP_HOST,
};

#define NREMEMBERED ((int)(sizeof remembered / sizeof remembered[0]))

/* Room in the base for the entries a request adds beside those: the
 * other request fields and the headers of a browser. */
#define ENVIRON_ROOM 32

/* The base begins with each remembered key, holding None until a request
 * sets it, then constants' entries.  PyDict_Copy() copies a dict's table
 * as it is, room and all, so each environ copied from it is filled
 * without growing its table. */
PyObject *
gohttp_wsgi_environ_base(gohttp_state *st, PyObject *constants)
{
#if PY_VERSION_HEX < 0x030E0000
    PyObject *base = _PyDict_NewPresized(PyDict_GET_SIZE(constants)
                                         + NREMEMBERED + ENVIRON_ROOM);
#else
    PyObject *base = PyDict_New();   /* no presizing: copies then grow */
#endif
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    if (base == NULL) {
        return NULL;
    }
    for (int i = 0; i < NREMEMBERED; i++) {
        if (PyDict_SetItem(base, st->wsgi_key[remembered[i]], Py_None) < 0) {
            goto error;
        }
    }
    /* item by item: PyDict_Update() would take constants' table instead */
    while (PyDict_Next(constants, &pos, &key, &value)) {
        if (PyDict_SetItem(base, key, value) < 0) {
            goto error;
        }
    }
    return base;   /* new reference */

error:
    Py_DECREF(base);
    return NULL;
}

/* Whether a[:n] and b[:n] are the same bytes: inline, a word at a time
 * (the last word overlapping the one before), for the short fields and
 * header values compared on every request, where a call to memcmp()
 * costs more than the comparing. */
static inline int
same_bytes(const char *a, const char *b, Py_ssize_t n)
{
    uint64_t x, y;
    uint32_t u, v;
    if (n >= 8) {
        for (Py_ssize_t i = 0; i < n - 8; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) {
                return 0;
            }
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v) {
            return 0;
        }
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    for (; n > 0; n--) {
        if (*a++ != *b++) {
            return 0;
        }
    }
    return 1;
}

/* Whether value, an environ value, is the latin-1 str of s[:n]. */
static inline int
holds(PyObject *value, const char *s, Py_ssize_t n)
{
    return PyUnicode_CheckExact(value)
           && PyUnicode_KIND(value) == PyUnicode_1BYTE_KIND
           && PyUnicode_GET_LENGTH(value) == n
           && same_bytes((const char *)PyUnicode_1BYTE_DATA(value), s, n);
}

/* A remembered field of a request: its bytes, and whether it is most
 * often one of the common values. */
typedef struct {
    const char *s;
    Py_ssize_t n;
    int common;
} field_bytes;

/* ---- an environ kept for the next request ------------------------------- */

/* An environ whose request's app did not keep it (no one else held it
 * once the request was done), kept for the next request of its WSGIApp
 * with what it holds, so that the next request finds most of its entries
 * already right: a request of a keep-alive connection sends the fields
 * and headers the one before it sent.  GIL builds only, as the other
 * reuses (wsgi.c's spare start_response): free-threaded builds never
 * make one (gohttp_environ_spare_new).
 *
 * Kept, env is reset (reset_to_base): base's keys first, in base's order,
 * each constant holding base's value, each remembered key a str or None;
 * after them the keys the request added (and any the app added), in the
 * order they were added, each holding a str, None, or an object the
 * caller keeps alive anyway (the wsgi.input of requests without a body, a
 * spared wsgi.errors), so that nothing of the app's outlives its request
 * but strs.  The next request (gohttp_wsgi_environ) walks those entries in
 * the order a fresh copy would get them, keeps each value that is already
 * right, sets each that is not, and at the first key that differs deletes
 * that entry and all after it and adds the rest; its headers are matched
 * in any order (put_header), since Go's header map gives them in none.
 * The result is the dict a fresh copy would have been, key for key, in
 * the same order, but for the order of the headers among themselves, which
 * a fresh copy does not fix either.
 *
 * A fill that kept every entry (clean: no key added or deleted) notes
 * each value it set, so that an environ no one changed since needs no
 * walk to be kept again (reset_clean), only its objects let go of.
 *
 * The notes (key[], value[]) borrow from env, so two rules keep them
 * true.  One request at a time: gohttp_wsgi_run takes the spare from its
 * WSGIApp for the whole run and gives it back at the end (taking and
 * giving back run no Python code between the look and the set), so
 * another request of the same app, which may run while this one lets the
 * GIL go (its app, a finalizer the reset runs), finds none and copies
 * the base.  And no Python code reaches env behind them: no one else
 * holds it, it is out of the GC's lists while it is reset and kept
 * (gohttp_environ_release), and a fill runs none (what it replaces are
 * strs, None and objects the caller holds: no finalizer; it allocates no
 * object the GC tracks, so no collection starts).
 */

/* Whether an environ is unchanged since a clean fill made it, known
 * without a walk (GIL builds; free-threaded builds walk every kept
 * environ).  Up to 3.11 a dict's version (PEP 509, ma_version_tag)
 * changes whenever the dict does: CLEAN_BY_VERSION.  3.12 deprecates it
 * for dict watchers: from 3.12 the environ is watched from its fill until
 * its request is done (CLEAN_BY_WATCHER), and any change to it while
 * watched marks it not clean. */
#if !defined(Py_GIL_DISABLED) && PY_VERSION_HEX < 0x030C0000
#define CLEAN_BY_VERSION 1
#define CLEAN_BY_WATCHER 0
#elif !defined(Py_GIL_DISABLED)
#define CLEAN_BY_VERSION 0
#define CLEAN_BY_WATCHER 1
#else
#define CLEAN_BY_VERSION 0
#define CLEAN_BY_WATCHER 0
#endif

struct gohttp_environ_spare {
    Py_ssize_t nbase;                  /* base's entries */
    PyObject *base_key[GOHTTP_ENVIRON_SPARE_ENTRIES];     /* borrowed from
                                                             base */
    PyObject *base_value[GOHTTP_ENVIRON_SPARE_ENTRIES];   /* likewise; the
                                          remembered keys' are not used */
    PyObject *env;                     /* the environ kept: strong, or NULL */
    int clean;                         /* made by a clean fill (see filler)
                                          and unchanged since, as far as
                                          known */
#if CLEAN_BY_VERSION
    uint64_t version;                  /* its version then (PEP 509) */
#endif
#if CLEAN_BY_WATCHER
    PyObject *watched;                 /* the environ being watched, or
                                          NULL: borrowed */
    int slot;                          /* its slot in watching[] */
#endif
    Py_ssize_t n;                      /* env's entries, */
    PyObject *key[GOHTTP_ENVIRON_SPARE_ENTRIES];     /* in order: borrowed */
    PyObject *value[GOHTTP_ENVIRON_SPARE_ENTRIES];   /* from env */
};

#if CLEAN_BY_WATCHER
/* The dict watcher (PyDict_AddWatcher), added once for the process (the
 * module supports one interpreter; a module imported again finds it), or
 * -1; and the spares whose environ it watches now, with the GIL held. */
static int watcher_id = -1;
#define NWATCHING 8
static gohttp_environ_spare *watching[NWATCHING];

/* The watcher: a change to a watched environ, by its request's app, makes
 * it not clean.  Nothing to fail. */
static int
environ_changed(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
                PyObject *new_value)
{
    for (int i = 0; i < NWATCHING; i++) {
        if (watching[i] != NULL && watching[i]->watched == dict) {
            watching[i]->clean = 0;
        }
    }
    return 0;
}

/* Watch env, the environ sp's clean fill just made, until unwatch(); if
 * it cannot be, sp is not clean. */
static void
watch(gohttp_environ_spare *sp, PyObject *env)
{
    sp->watched = NULL;
    for (int i = 0; sp->clean && watcher_id >= 0 && i < NWATCHING; i++) {
        if (watching[i] == NULL) {
            if (PyDict_Watch(watcher_id, env) < 0) {
                PyErr_WriteUnraisable(env);
                break;
            }
            watching[i] = sp;
            sp->watched = env;
            sp->slot = i;
            return;
        }
    }
    sp->clean = 0;
}

/* Stop watching sp's environ, if it is watched. */
static void
unwatch(gohttp_environ_spare *sp)
{
    if (sp->watched != NULL) {
        if (PyDict_Unwatch(watcher_id, sp->watched) < 0) {
            PyErr_WriteUnraisable(sp->watched);
            sp->clean = 0;
        }
        watching[sp->slot] = NULL;
        sp->watched = NULL;
    }
}
#endif

gohttp_environ_spare *
gohttp_environ_spare_new(PyObject *base)
{
#ifdef Py_GIL_DISABLED
    return NULL;
#else
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    if (PyDict_GET_SIZE(base) >= GOHTTP_ENVIRON_SPARE_ENTRIES) {
        return NULL;   /* no room for a request's entries beside them */
    }
    gohttp_environ_spare *sp = PyMem_Malloc(sizeof *sp);
    if (sp == NULL) {
        return NULL;   /* no reuse: not an error */
    }
    while (PyDict_Next(base, &pos, &key, &value)) {
        sp->base_key[i] = key;
        sp->base_value[i++] = value;
    }
    sp->nbase = i;
    sp->env = NULL;
    sp->clean = 0;
    sp->n = 0;
#if CLEAN_BY_WATCHER
    sp->watched = NULL;
    if (watcher_id < 0) {
        watcher_id = PyDict_AddWatcher(environ_changed);
        if (watcher_id < 0) {
            /* all taken (by other extensions): every kept environ is
             * walked then, which is all this costs */
            PyErr_Clear();
        }
    }
#endif
    return sp;
#endif
}

void
gohttp_environ_spare_free(gohttp_environ_spare *sp)
{
    if (sp != NULL) {
        Py_CLEAR(sp->env);
        PyMem_Free(sp);
    }
}

int
gohttp_environ_spare_traverse(gohttp_environ_spare *sp, visitproc visit,
                              void *arg)
{
    /* The kept environ's values, as if the WSGIApp held them: the environ
     * itself is out of the GC's reach (gohttp_environ_release), so that
     * gc.get_referents() of the WSGIApp cannot hand it to Python code. */
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (sp != NULL && sp->env != NULL
           && PyDict_Next(sp->env, &pos, &key, &value)) {
        Py_VISIT(value);
    }
    return 0;
}

#ifndef Py_GIL_DISABLED   /* (free-threaded builds keep no environ) */
/* Reset env, a request's environ no one else holds, as sp says (above),
 * and note its entries in sp.  1 if it can be kept; 0 if not (a key of
 * base gone or moved, too many entries, a key that is not a str). */
static int
reset_to_base(gohttp_environ_spare *sp, PyObject *env, PyObject *keep,
              PyObject *also)
{
    Py_ssize_t n = PyDict_GET_SIZE(env), pos = 0, i = 0;
    PyObject *key, *value;
    if (n < sp->nbase || n > GOHTTP_ENVIRON_SPARE_ENTRIES) {
        return 0;
    }
    while (PyDict_Next(env, &pos, &key, &value)) {
        PyObject *want;
        if (i == n) {
            return 0;   /* grown meanwhile: sp has no room for more */
        }
        if (i < sp->nbase) {
            if (key != sp->base_key[i]) {
                return 0;   /* deleted, perhaps added again at the end */
            }
            want = i >= NREMEMBERED ? sp->base_value[i]
                   : PyUnicode_CheckExact(value) ? value : Py_None;
        }
        else {
            if (!PyUnicode_CheckExact(key)) {
                return 0;
            }
            want = PyUnicode_CheckExact(value) || value == keep
                   || value == also ? value : Py_None;
        }
        /* A value set anew, not a key: the walk may go on.  The old
         * value's finalizer may run Python code, which must not reach
         * env: no one else holds it, and it is let go of once env is out
         * of the GC's lists again (setting a value the GC tracks, a
         * constant of base, tracks env). */
        if (want != value) {
            PyObject *old = Py_NewRef(value);
            int rc = PyDict_SetItem(env, key, want);
            if (rc < 0) {
                PyErr_WriteUnraisable(env);
            }
            PyObject_GC_UnTrack(env);
            Py_DECREF(old);
            if (rc < 0) {
                return 0;
            }
        }
        sp->key[i] = key;
        sp->value[i++] = want;
    }
    sp->n = i;
    return i == n && Py_REFCNT(env) == 1;
}

/* reset_to_base for an env that no one changed since a clean fill made
 * it (its version says so): its keys are those sp noted, in that order,
 * each value as noted.  1 if it was reset so; 0 if reset_to_base must
 * walk it; -1 if it cannot be kept. */
static int
reset_clean(gohttp_environ_spare *sp, PyObject *env, PyObject *keep,
            PyObject *also)
{
#if CLEAN_BY_VERSION || CLEAN_BY_WATCHER
#if CLEAN_BY_VERSION
    if (!sp->clean || ((PyDictObject *)env)->ma_version_tag != sp->version) {
        return 0;
    }
#else
    if (!sp->clean) {   /* (unwatched by gohttp_environ_release) */
        return 0;
    }
#endif
    /* of its values, only wsgi.input and wsgi.errors may be objects */
    for (Py_ssize_t j = sp->nbase; j < sp->n; j++) {
        PyObject *value = sp->value[j];
        if (!PyUnicode_CheckExact(value) && value != keep && value != also
            && value != Py_None) {
            if (PyDict_SetItem(env, sp->key[j], Py_None) < 0) {
                PyErr_WriteUnraisable(env);
                return -1;
            }
            sp->value[j] = Py_None;
        }
    }
    return Py_REFCNT(env) == 1 ? 1 : -1;
#else
    return 0;
#endif
}
#endif   /* !Py_GIL_DISABLED */

int
gohttp_environ_release(gohttp_environ_spare *sp, PyObject *env,
                       PyObject *keep, PyObject *also)
{
#ifndef Py_GIL_DISABLED
    int rc, held = 0;
#if CLEAN_BY_WATCHER
    if (sp != NULL) {
        unwatch(sp);   /* before anything here changes env */
    }
#endif
    if (sp != NULL && env != NULL && sp->env == NULL && Py_REFCNT(env) == 1) {
        /* sp's notes borrow from env: no Python code may change it behind
         * them, neither the finalizers the reset runs nor any code while
         * it is kept.  No one else holds it, and out of the GC's lists
         * gc.get_objects() cannot find it either (the fill tracks it
         * again; gohttp_environ_spare_traverse visits its values). */
        PyObject_GC_UnTrack(env);
        if ((rc = reset_clean(sp, env, keep, also)) >= 0
            && (rc == 1 || reset_to_base(sp, env, keep, also))) {
            sp->env = env;   /* our reference moves there */
            for (Py_ssize_t j = sp->nbase; also != NULL && j < sp->n; j++) {
                held += sp->value[j] == also;
            }
            return held;
        }
        if (Py_REFCNT(env) > 1 && !PyObject_GC_IsTracked(env)) {
            PyObject_GC_Track(env);   /* not ours alone after all */
        }
    }
#endif
    Py_XDECREF(env);
    return 0;
}

/* An environ being filled: a fresh copy of base (sp NULL), or a kept one
 * whose entries sp noted, of which those before entry i are the request's
 * already. */
typedef struct {
    PyObject *env;              /* strong */
    gohttp_environ_spare *sp;   /* NULL once the kept entries ran out */
    Py_ssize_t i;
    int clean;                  /* a kept env whose keys all stayed, each
                                   value set anew noted in sp */
} filler;

/* Set the entry j of f's kept env, whose key is key, to value (a new
 * reference this takes over; NULL: an error already set), and note it.
 * 0, or -1 with an exception set. */
static int
set_kept(filler *f, Py_ssize_t j, PyObject *key, PyObject *value)
{
    if (value == NULL || PyDict_SetItem(f->env, key, value) < 0) {
        Py_XDECREF(value);
        return -1;
    }
    f->sp->value[j] = value;   /* borrowed from here: env holds it */
    Py_DECREF(value);
    return 0;
}

/* Delete the kept entries from f->i on that no header matched: from
 * here on f fills env as a fresh copy.  0, or -1 with an exception set. */
static int
drop_unmatched(filler *f, uint64_t matched)
{
    gohttp_environ_spare *sp = f->sp;
    f->sp = NULL;
    for (Py_ssize_t j = f->i; j < sp->n; j++) {
        if (matched >> j & 1) {
            continue;
        }
        f->clean = 0;
        PyObject *key = Py_NewRef(sp->key[j]);   /* env's until deleted */
        int rc = PyDict_DelItem(f->env, key);
        Py_DECREF(key);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether a str is another's equal. */
static inline int
same_str(PyObject *a, PyObject *b)
{
    return a == b
           || (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)
               && PyUnicode_GET_LENGTH(a) == PyUnicode_GET_LENGTH(b)
               && PyUnicode_KIND(a) == PyUnicode_KIND(b)
               && memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b),
                         (size_t)(PyUnicode_GET_LENGTH(a)
                                  * PyUnicode_KIND(a))) == 0);
}

/* 1 if the next kept entry of f is key, with *old its value (borrowed);
 * 0 if there is none (then the kept entries from there on are deleted);
 * -1 with an exception set. */
static int
next_is(filler *f, PyObject *key, PyObject **old)
{
    if (f->sp == NULL) {
        return 0;
    }
    if (f->i < f->sp->n && same_str(f->sp->key[f->i], key)) {
        *old = f->sp->value[f->i++];
        return 1;
    }
    f->clean = 0;   /* a key that differs: env no longer as it was */
    return drop_unmatched(f, 0) < 0 ? -1 : 0;
}

/* Set env[key] to the latin-1 str of s[:n], unless it holds it.  0, or -1
 * with an exception set. */
static int
put_latin1(filler *f, PyObject *key, const char *s, Py_ssize_t n)
{
    PyObject *old;
    int rc = next_is(f, key, &old);
    if (rc != 0) {
        return rc < 0 ? -1 : holds(old, s, n) ? 0
               : set_kept(f, f->i - 1, key, PyUnicode_DecodeLatin1(s, n, NULL));
    }
    return set_latin1(f->env, key, s, n);
}

/* Set env[key] to value (borrowed), unless it holds it.  0, or -1 with an
 * exception set. */
static int
put_object(filler *f, PyObject *key, PyObject *value)
{
    PyObject *old = NULL;
    int rc = next_is(f, key, &old);
    if (rc != 0) {
        return rc < 0 ? -1 : old == value ? 0
               : set_kept(f, f->i - 1, key, Py_NewRef(value));
    }
    return PyDict_SetItem(f->env, key, value);
}

/* Set the remembered keys of f's env to the request's fields.  base holds
 * the values of an earlier request, so that most fields are already right
 * in a copy of it, or in a kept environ; a field that is not is set, in
 * env and in base, for the requests after.  0, or -1 with an exception.
 *
 * base may change meanwhile (another thread's request, on a
 * free-threaded build), so a value is checked in env, this request's
 * own, never in base. */
static int
set_remembered(gohttp_state *st, filler *f, PyObject *base,
               const field_bytes *fields)
{
    Py_ssize_t pos = 0;
    PyObject *env = f->env;
    PyObject *key, *value, *made = NULL;   /* made: fields[i - 1]'s new str */

    for (int i = 0; i < NREMEMBERED; i++) {
        const field_bytes *f_i = &fields[i];
        PyObject *want = st->wsgi_key[remembered[i]];
        if (f->sp != NULL) {
            value = f->sp->value[i];   /* a kept env: its key is want */
        }
        /* env's entries begin with the remembered keys, in order */
        else if (!PyDict_Next(env, &pos, &key, &value) || key != want) {
            value = NULL;
        }
        if (value != NULL && holds(value, f_i->s, f_i->n)) {
            made = NULL;
            continue;
        }
        /* RAW_URI follows REQUEST_URI, from the same bytes: the same str */
        PyObject *fresh = made != NULL && f_i->s == fields[i - 1].s
                          && f_i->n == fields[i - 1].n
                          ? Py_NewRef(made) : new_value(st, f_i->s, f_i->n,
                                                        f_i->common);
        if (fresh == NULL) {
            return -1;
        }
        /* Setting a key env has replaces its value, not the keys: the
         * PyDict_Next walk may go on. */
        if (PyDict_SetItem(env, want, fresh) < 0
            || PyDict_SetItem(base, want, fresh) < 0) {
            Py_DECREF(fresh);
            return -1;
        }
        if (f->sp != NULL) {
            f->sp->value[i] = fresh;   /* borrowed, as made below */
        }
        made = fresh;   /* borrowed from here: env holds it */
        Py_DECREF(fresh);
    }
    if (f->sp != NULL) {
        f->i = f->sp->nbase;   /* the constants are base's already */
    }
    return 0;
}

/* Set env[key], a request header's, to the latin-1 str of v[:n], unless
 * it holds it.  A kept environ's headers are looked for among all its
 * entries from f->i on, each at most once (marked in *matched): Go's
 * header map has no order, so the same headers come in another order
 * each request, as they do in a fresh copy.  0, or -1 with an exception
 * set. */
static int
put_header(filler *f, PyObject *key, const char *v, Py_ssize_t n,
           uint64_t *matched)
{
    gohttp_environ_spare *sp = f->sp;
    for (Py_ssize_t j = sp != NULL ? f->i : 0; sp != NULL && j < sp->n; j++) {
        if (!(*matched >> j & 1) && same_str(sp->key[j], key)) {
            *matched |= (uint64_t)1 << j;
            return holds(sp->value[j], v, n) ? 0
                   : set_kept(f, j, key, PyUnicode_DecodeLatin1(v, n, NULL));
        }
    }
    f->clean = 0;   /* a new key (or a fresh copy: not clean already) */
    return set_latin1(f->env, key, v, n);
}

/* Add the request headers to f's env.  0, or -1 with an exception set. */
static int
add_headers(gohttp_state *st, filler *f, const gohttp_request *req,
            const char *data)
{
    Py_ssize_t unused;
    const char *p = span(req, data, GOHTTP_F_HEADERS, &unused);
    const char *prev = NULL;     /* the previous header's name */
    Py_ssize_t prev_len = 0;
    PyObject *key = NULL;        /* its environ key, or Py_None */
    uint64_t matched = 0;        /* the kept entries found (put_header) */

    for (uint32_t i = 0; i < req->header_count; i++) {
        Py_ssize_t klen, vlen;
        const char *k = gohttp_next_item(&p, &klen);
        const char *v = gohttp_next_item(&p, &vlen);
        int again = prev != NULL && klen == prev_len
                    && memcmp(k, prev, (size_t)klen) == 0;
        if (!again) {
            Py_XSETREF(key, header_key(st, k, klen));
            if (key == NULL) {
                return -1;
            }
            prev = k;
            prev_len = klen;
        }
        if (key == Py_None) {
            continue;
        }
        if (!again) {
            if (put_header(f, key, v, vlen, &matched) < 0) {
                Py_DECREF(key);
                return -1;
            }
            continue;
        }
        /* the same header sent again: its values joined */
        f->clean = 0;
        PyObject *value = PyUnicode_DecodeLatin1(v, vlen, NULL);
        if (value != NULL) {
            PyObject *first = PyDict_GetItemWithError(f->env, key);  /* borrowed */
            const char *sep = is(k, klen, "Cookie") ? "; " : ",";
            PyObject *joined = NULL;
            if (first != NULL) {
                PyObject *with_sep = PyUnicode_FromFormat("%U%s", first, sep);
                if (with_sep != NULL) {
                    joined = PyUnicode_Concat(with_sep, value);
                    Py_DECREF(with_sep);
                }
            }
            Py_SETREF(value, joined);
        }
        int rc = value != NULL ? PyDict_SetItem(f->env, key, value) : -1;
        Py_XDECREF(value);
        if (rc < 0) {
            Py_DECREF(key);
            return -1;
        }
    }
    Py_XDECREF(key);
    /* the headers of the request before that this one did not send, the
     * TLS keys and what its app added: gone */
    return f->sp != NULL ? drop_unmatched(f, matched) : 0;
}

/* ---- TLS: mod_ssl's names ---------------------------------------------- */

/* Base64 in lines of 64, as openssl writes it (module.h). */
PyObject *
gohttp_pem_certificate(const unsigned char *der, Py_ssize_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char head[] = "-----BEGIN CERTIFICATE-----\n";
    static const char tail[] = "-----END CERTIFICATE-----\n";
    Py_ssize_t chars = (n + 2) / 3 * 4;
    Py_ssize_t size = (Py_ssize_t)sizeof head - 1 + chars + (chars + 63) / 64
                      + (Py_ssize_t)sizeof tail - 1;
    PyObject *pem = PyUnicode_New(size, 127);
    if (pem == NULL) {
        return NULL;
    }
    char *out = (char *)PyUnicode_DATA(pem);
    memcpy(out, head, sizeof head - 1);
    out += sizeof head - 1;
    Py_ssize_t line = 0;
    for (Py_ssize_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)der[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)der[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= der[i + 2];
        }
        *out++ = alphabet[(v >> 18) & 63];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        *out++ = i + 2 < n ? alphabet[v & 63] : '=';
        line += 4;
        if (line == 64 || i + 3 >= n) {
            *out++ = '\n';
            line = 0;
        }
    }
    memcpy(out, tail, sizeof tail - 1);
    return pem;
}

/* The TLS keys of a request over TLS (tls_span[:size], not empty), as
 * mod_ssl names them: HTTPS, SSL_PROTOCOL, SSL_CIPHER (Go's name of the
 * suite), SSL_TLS_SNI, SSL_CLIENT_VERIFY, and SSL_CLIENT_CERT (PEM) when
 * the client sent a certificate, which Go then verified.  A cleartext
 * request costs nothing here: the caller checks the span's size. */
static int
add_tls(gohttp_state *st, filler *f, const char *span, Py_ssize_t size)
{
    PyObject **key = st->wsgi_key;
    gohttp_tls_state tls;
    PyObject *pem = NULL;
    int rc = -1;
    (void)gohttp_tls_read(span, size, &tls);
    int verified = tls.chain < tls.chain_end;
    if (put_latin1(f, key[GOHTTP_WSGI_HTTPS], "on", 2) < 0
        || put_latin1(f, key[GOHTTP_WSGI_SSL_PROTOCOL],
                     tls.name[GOHTTP_TLS_VERSION],
                     tls.name_len[GOHTTP_TLS_VERSION]) < 0
        || put_latin1(f, key[GOHTTP_WSGI_SSL_CIPHER],
                     tls.name[GOHTTP_TLS_CIPHER],
                     tls.name_len[GOHTTP_TLS_CIPHER]) < 0
        || (tls.name_len[GOHTTP_TLS_SERVER_NAME] > 0
            && put_latin1(f, key[GOHTTP_WSGI_SSL_TLS_SNI],
                         tls.name[GOHTTP_TLS_SERVER_NAME],
                         tls.name_len[GOHTTP_TLS_SERVER_NAME]) < 0)
        || put_latin1(f, key[GOHTTP_WSGI_SSL_CLIENT_VERIFY],
                     verified ? "SUCCESS" : "NONE", verified ? 7 : 4) < 0) {
        goto done;
    }
    if (verified) {
        const char *p = tls.chain;
        Py_ssize_t n;
        const char *leaf = gohttp_next_item(&p, &n);
        pem = gohttp_pem_certificate((const unsigned char *)leaf, n);
        if (pem == NULL
            || put_object(f, key[GOHTTP_WSGI_SSL_CLIENT_CERT], pem) < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(pem);
    return rc;
}

PyObject *
gohttp_wsgi_environ(gohttp_state *st, const gohttp_request *req,
                    const char *data, PyObject *base, PyObject *script,
                    PyObject *input, PyObject *errors,
                    gohttp_environ_spare *sp)
{
    PyObject **key = st->wsgi_key;
    field_bytes fields[NREMEMBERED];
    Py_ssize_t n, port_len;
    const char *s, *port;
    filler f = {NULL, NULL, 0, 0};
    if (sp != NULL && sp->env != NULL) {
        f.env = sp->env;   /* its reference is ours now */
        sp->env = NULL;
        f.sp = sp;
        f.clean = 1;
    }
    else if ((f.env = PyDict_Copy(base)) == NULL) {
        return NULL;
    }

    /* SCRIPT_NAME and PATH_INFO: the path splits at the mount prefix, if
     * it is there (Go routed the request here, but a pattern with a host
     * or a method may route others). */
    const char *path = span(req, data, GOHTTP_F_PATH, &n);
    Py_ssize_t script_len = PyBytes_GET_SIZE(script);
    const char *script_s = PyBytes_AS_STRING(script);
    if (script_len > 0 && n >= script_len
        && memcmp(path, script_s, (size_t)script_len) == 0
        && (n == script_len || path[script_len] == '/')) {
        path += script_len;
        n -= script_len;
    }
    else {
        script_len = 0;
    }
    fields[0] = (field_bytes){script_s, script_len, 0};
    fields[1] = (field_bytes){path, n, 0};
    s = span(req, data, GOHTTP_F_METHOD, &n);
    fields[2] = (field_bytes){s, n, 1};
    s = span(req, data, GOHTTP_F_QUERY, &n);
    fields[3] = (field_bytes){s, n, 0};
    s = span(req, data, GOHTTP_F_URL, &n);
    fields[4] = (field_bytes){s, n, 0};
    fields[5] = fields[4];   /* RAW_URI is gunicorn's name for REQUEST_URI */
    s = span(req, data, GOHTTP_F_PROTO, &n);
    fields[6] = (field_bytes){s, n, 1};
    s = span(req, data, GOHTTP_F_SCHEME, &n);
    fields[7] = (field_bytes){s, n, 1};
    s = span(req, data, GOHTTP_F_REMOTE_ADDR, &n);
    gohttp_split_addr(s, n, &fields[8].s, &fields[8].n, &port, &port_len);
    fields[8].common = 0;
    s = span(req, data, GOHTTP_F_HOST, &n);
    fields[9] = (field_bytes){s, n, 0};
    if (set_remembered(st, &f, base, fields) < 0
        || (n == 0 && (f.clean = 0,
                       PyDict_DelItem(f.env, key[GOHTTP_WSGI_HTTP_HOST]) < 0))
        /* the port differs from one connection to the next */
        || put_latin1(&f, key[GOHTTP_WSGI_REMOTE_PORT], port, port_len) < 0
        || put_object(&f, key[GOHTTP_WSGI_INPUT], input) < 0
        || put_object(&f, key[GOHTTP_WSGI_ERRORS], errors) < 0
        || add_headers(st, &f, req, data) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_TLS, &n);
    if (n > 0 && (f.clean = 0, add_tls(st, &f, s, n) < 0)) {
        goto error;
    }
    if (!PyObject_GC_IsTracked(f.env)) {
        PyObject_GC_Track(f.env);   /* a kept one (gohttp_environ_release) */
    }
    if (sp != NULL) {
        sp->clean = f.clean;
#if CLEAN_BY_VERSION
        sp->version = ((PyDictObject *)f.env)->ma_version_tag;
#elif CLEAN_BY_WATCHER
        watch(sp, f.env);
#endif
    }
    return f.env;   /* new reference */

error:
    Py_DECREF(f.env);
    return NULL;
}
