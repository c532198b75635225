/*
 * headers.c — gohttp.Headers and canonical_key: HTTP headers as Go's
 * http.Header has them, case-insensitive and multi-valued.
 *
 * A Headers wraps one dict, {canonical key: [values]}, every key a str in
 * Go's canonical form ("content-type" → "Content-Type") and every value a
 * str without CR, LF or NUL.  response.c packs that dict for Go as it is,
 * and the WSGI adapter reads it as `_map`; nothing else may be stored in
 * it.  Request headers are read-only Headers made over a dict that C
 * filled (gohttp_headers_frozen).
 *
 * As a mapping (gohttp/_headers.py registers it as a
 * collections.abc.Mapping), a key stands for its first value, as Go's
 * Header.Get: h[key], get(), keys(), values() and items() agree, and
 * len() counts keys; the three views are collections.abc's, as the
 * Mapping mixins would make them.  get_all() and multi_items() give every
 * value.
 *
 * The object's critical section guards the lists in the dict: every
 * method that reads a list it got borrowed from the dict, or that adds,
 * replaces or drops one, holds it, so that on a free-threaded build a
 * list is never freed (by set() or delete() in another thread) while
 * another method still reads it, and two threads sharing one Headers see
 * each change whole.  response.c packs the dict under this section too.
 */
#include "module.h"

#include <structmember.h>   /* T_OBJECT, READONLY (3.10, 3.11) */

typedef struct {
    PyObject_HEAD
    PyObject *map;       /* dict {canonical str: list of str}; never NULL */
    int readonly;        /* set at creation, never changed */
} HeadersObject;

#define Headers_CAST(op) ((HeadersObject *)(op))

/* RFC 9110 token characters: what a header name may hold. */
static const char token_chars[] =
    "!#$%&'*+-.^_`|~0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static unsigned char is_token[256];

/* What classify needs of a character, in one load: whether it is a
 * token character, a lowercase or an uppercase letter; and which case
 * of letter may not follow it in a canonical name (lowercase after '-',
 * uppercase after anything else; the first letter counts as after '-'). */
enum { NC_TOKEN = 1, NC_LOWER = 2, NC_UPPER = 4 };
static unsigned char name_class[256], not_after[256];

/* 1 for the characters a header value may not hold: CR, LF, NUL. */
static unsigned char splits[256] = {['\r'] = 1, ['\n'] = 1, ['\0'] = 1};

static void
init_token_table(void)
{
    for (const char *c = token_chars; *c; c++) {
        unsigned char u = (unsigned char)*c;
        is_token[u] = 1;
        name_class[u] = NC_TOKEN | (u >= 'a' && u <= 'z' ? NC_LOWER : 0)
                        | (u >= 'A' && u <= 'Z' ? NC_UPPER : 0);
    }
    for (int c = 0; c < 256; c++) {
        not_after[c] = c == '-' ? NC_LOWER : NC_UPPER;
    }
}

/* ---- names and values ------------------------------------------------- */

/* What a header name is: its canonical form or not a valid name. */
typedef enum { NAME_INVALID, NAME_CANONICAL, NAME_TO_CANONICALIZE } name_kind;

static name_kind
classify(PyObject *key)
{
    if (!PyUnicode_IS_ASCII(key) || PyUnicode_GET_LENGTH(key) == 0) {
        return NAME_INVALID;
    }
    const unsigned char *s = PyUnicode_1BYTE_DATA(key);
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    /* Branch-free: every name of a response passes here. */
    unsigned token = NC_TOKEN, wrong = 0, banned = NC_LOWER;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned k = name_class[s[i]];
        token &= k;
        wrong |= k & banned;
        banned = not_after[s[i]];
    }
    if (!token) {
        return NAME_INVALID;
    }
    return wrong ? NAME_TO_CANONICALIZE : NAME_CANONICAL;
}

int
gohttp_header_bytes_check(const char *name, Py_ssize_t nlen,
                          const char *value, Py_ssize_t vlen)
{
    if (nlen == 0) {
        return 1;
    }
    for (Py_ssize_t i = 0; i < nlen; i++) {
        if (!is_token[(unsigned char)name[i]]) {
            return 1;
        }
    }
    for (Py_ssize_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\r' || c == '\n' || c == '\0') {
            return 2;
        }
    }
    return 0;
}

void
gohttp_canonicalize(unsigned char *out, const unsigned char *s, size_t n)
{
    int upper = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (upper && c >= 'a' && c <= 'z') {
            c -= 'a' - 'A';
        }
        else if (!upper && c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        out[i] = c;
        upper = c == '-';
    }
}

/* New reference: key (a valid name) in canonical form. */
static PyObject *
to_canonical(PyObject *key)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    PyObject *result = PyUnicode_New(n, 127);
    if (result == NULL) {
        return NULL;
    }
    gohttp_canonicalize(PyUnicode_1BYTE_DATA(result),
                        PyUnicode_1BYTE_DATA(key), (size_t)n);
    return result;
}

/* New reference: the canonical form of key (a str), or key itself when it
 * is not a valid header name, as Go's textproto.CanonicalMIMEHeaderKey. */
PyObject *
gohttp_canonical_key(PyObject *key)
{
    return classify(key) == NAME_TO_CANONICALIZE ? to_canonical(key)
                                                 : Py_NewRef(key);
}

/* ---- names and values checked before (module.h, gohttp_checked) ------ */

/* The slot of op in slots, or -1.  Eight compares: less than one
 * classify() of a short name, and no two strs can evict each other, as
 * they could in slots chosen by address. */
static inline int
checked_find(PyObject *const *slots, PyObject *op)
{
    for (int i = 0; i < GOHTTP_CHECKED_SLOTS; i++) {
        if (slots[i] == op) {
            return i;
        }
    }
    return -1;
}

/* Borrowed: the canonical form of name, if name was checked before;
 * else NULL. */
static inline PyObject *
checked_name(gohttp_state *st, PyObject *name)
{
#ifndef Py_GIL_DISABLED
    int i = checked_find(st->checked.name, name);
    if (i >= 0) {
        return st->checked.canonical[i];
    }
#endif
    return NULL;
}

/* Remember that name is a valid header name whose canonical form is
 * canonical, in place of the oldest. */
static inline void
remember_name(gohttp_state *st, PyObject *name, PyObject *canonical)
{
#ifndef Py_GIL_DISABLED
    int i = st->checked.next_name;
    st->checked.next_name = (i + 1) % GOHTTP_CHECKED_SLOTS;
    /* Dropping the slot's old strs runs no Python code. */
    Py_XSETREF(st->checked.name[i], Py_NewRef(name));
    Py_XSETREF(st->checked.canonical[i], Py_NewRef(canonical));
#endif
}

/* 1 if value, an exact str, was found fit to send before. */
static inline int
checked_value(gohttp_state *st, PyObject *value)
{
#ifndef Py_GIL_DISABLED
    return checked_find(st->checked.value, value) >= 0;
#else
    return 0;
#endif
}

static inline void
remember_value(gohttp_state *st, PyObject *value)
{
#ifndef Py_GIL_DISABLED
    if (PyUnicode_CheckExact(value)) {
        int i = st->checked.next_value;
        st->checked.next_value = (i + 1) % GOHTTP_CHECKED_SLOTS;
        Py_XSETREF(st->checked.value[i], Py_NewRef(value));
    }
#endif
}

void
gohttp_checked_clear(gohttp_checked *checked)
{
    for (int i = 0; i < GOHTTP_CHECKED_SLOTS; i++) {
        Py_CLEAR(checked->name[i]);
        Py_CLEAR(checked->canonical[i]);
        Py_CLEAR(checked->value[i]);
    }
}

PyObject *
gohttp_header_key(gohttp_state *st, PyObject *name)
{
    PyObject *canonical = checked_name(st, name);   /* borrowed */
    if (canonical != NULL) {
        return Py_NewRef(canonical);
    }
    if (!PyUnicode_CheckExact(name)) {
        return NULL;
    }
    switch (classify(name)) {
    case NAME_CANONICAL:
        canonical = Py_NewRef(name);
        break;
    case NAME_TO_CANONICALIZE:
        canonical = to_canonical(name);
        break;
    default:
        return NULL;
    }
    if (canonical != NULL) {
        remember_name(st, name, canonical);
    }
    return canonical;
}

int
gohttp_header_value_ok(gohttp_state *st, PyObject *value)
{
    if (checked_value(st, value)) {
        return 1;
    }
    if (!PyUnicode_CheckExact(value) || PyUnicode_MAX_CHAR_VALUE(value) > 0xFF) {
        return 0;
    }
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') {
            return 0;
        }
    }
    remember_value(st, value);
    return 1;
}

/* New reference: the key a lookup uses, or NULL with TypeError. */
static PyObject *
lookup_key(PyObject *key)
{
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "header name must be str, not %.200s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    return gohttp_canonical_key(key);
}

/* New reference: the key a change stores, or NULL with TypeError or
 * ValueError (an invalid name would never reach Go intact). */
static PyObject *
checked_key(gohttp_state *st, PyObject *key)
{
    PyObject *canonical = checked_name(st, key);   /* borrowed */
    if (canonical != NULL) {
        return Py_NewRef(canonical);
    }
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "header name must be str, not %.200s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    switch (classify(key)) {
    case NAME_CANONICAL:
        canonical = Py_NewRef(key);
        break;
    case NAME_TO_CANONICALIZE:
        canonical = to_canonical(key);
        break;
    default:
        PyErr_Format(PyExc_ValueError, "invalid header name %R: use "
                     "letters, digits and !#$%%&'*+-.^_`|~ only", key);
        return NULL;
    }
    if (canonical != NULL && PyUnicode_CheckExact(key)) {
        remember_name(st, key, canonical);
    }
    return canonical;
}

/* 0 if value may be sent as the value of header key, else -1 with
 * TypeError (not a str) or ValueError (CR, LF or NUL: response splitting). */
static int
check_value(gohttp_state *st, PyObject *key, PyObject *value)
{
    if (checked_value(st, value)) {
        return 0;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "value of header %R must be str, not "
                     "%.200s: convert it with str()", key,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (kind == PyUnicode_1BYTE_KIND) {
        /* Branch-free, as classify: most values are latin-1 and clean. */
        const Py_UCS1 *s = data;
        unsigned char bad = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            bad |= splits[s[i]];
        }
        if (!bad) {
            remember_value(st, value);
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\r' || c == '\n' || c == '\0') {
            PyErr_Format(PyExc_ValueError, "value of header %R contains CR, "
                         "LF or NUL, which would split the response: %R",
                         key, value);
            return -1;
        }
    }
    return 0;
}

static int
check_writable(HeadersObject *self)
{
    if (self->readonly) {
        PyErr_SetString(PyExc_TypeError, "these headers are read-only "
                        "(request headers cannot change; set response "
                        "headers on w.header)");
        return -1;
    }
    return 0;
}

/* ---- making Headers ------------------------------------------------------ */

/* New reference: a Headers of type tp over map, which it takes a new
 * reference to. */
static PyObject *
headers_over(PyTypeObject *tp, PyObject *map, int readonly)
{
    HeadersObject *self = PyObject_New(HeadersObject, tp);
    if (self == NULL) {
        return NULL;
    }
    self->map = Py_NewRef(map);
    self->readonly = readonly;
    return (PyObject *)self;
}

PyObject *
gohttp_headers_new(gohttp_state *st)
{
    if (st->spare_headers != NULL) {
        PyObject *spare = st->spare_headers;   /* empty: see below */
        st->spare_headers = NULL;
        return spare;   /* our reference moves to the caller */
    }
    PyObject *map = PyDict_New(), *result = NULL;
    if (map != NULL) {
        result = headers_over(st->HeadersType, map, 0);
        Py_DECREF(map);
    }
    return result;   /* new reference */
}

#ifndef Py_GIL_DISABLED
/* Keep list (a reference the caller gives up), a list of one value, with
 * None for its value, for new_values; or let it go. */
static void
spare_list(gohttp_state *st, PyObject *list)
{
    /* Dropping the value may run Python code: look again after. */
    Py_SETREF(((PyListObject *)list)->ob_item[0], Py_NewRef(Py_None));
    if (st->nspare_lists < GOHTTP_SPARE_LISTS && Py_REFCNT(list) == 1
        && PyList_GET_SIZE(list) == 1) {
        st->spare_lists[st->nspare_lists++] = list;   /* ours moves there */
        return;
    }
    Py_DECREF(list);
}
#endif

/* A response's Headers no one else holds (nor its dict) is emptied and
 * kept for the next gohttp_headers_new: two allocations and frees less per
 * response that sets a header.  Free-threaded builds let it go, as they do
 * the spare writer (response.c). */
void
gohttp_headers_done(gohttp_state *st, PyObject *headers)
{
#ifndef Py_GIL_DISABLED
    HeadersObject *self = Headers_CAST(headers);
    if (st->spare_headers == NULL && !self->readonly
        && Py_REFCNT(headers) == 1 && Py_REFCNT(self->map) == 1) {
        /* The one-value lists only the dict holds are kept too (see
         * new_values), taken before the clear, emptied after it. */
        PyObject *lists[GOHTTP_SPARE_LISTS], *key, *values;
        Py_ssize_t pos = 0, keys = PyDict_GET_SIZE(self->map);
        int n = 0;
        /* Counting keys saves the call that would find no more. */
        while (n < GOHTTP_SPARE_LISTS - st->nspare_lists && keys-- > 0
               && PyDict_Next(self->map, &pos, &key, &values)) {
            if (PyList_CheckExact(values) && Py_REFCNT(values) == 1
                && PyList_GET_SIZE(values) == 1) {
                lists[n++] = Py_NewRef(values);
            }
        }
        /* Clearing drops the values, which may run Python code (a
         * __del__ of something stored through _map): look again after. */
        PyDict_Clear(self->map);
        for (int i = 0; i < n; i++) {
            spare_list(st, lists[i]);
        }
        if (st->spare_headers == NULL && Py_REFCNT(headers) == 1
            && Py_REFCNT(self->map) == 1 && PyDict_GET_SIZE(self->map) == 0) {
            st->spare_headers = headers;   /* our reference moves there */
            return;
        }
    }
#endif
    Py_DECREF(headers);
}

PyObject *
gohttp_headers_frozen(gohttp_state *st, PyObject *map)
{
    return headers_over(st->HeadersType, map, 1);   /* new reference */
}

PyObject *
gohttp_headers_map(PyObject *headers)
{
    return Headers_CAST(headers)->map;   /* borrowed */
}

static void
headers_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    Py_DECREF(Headers_CAST(op)->map);
    PyObject_Free(op);
    Py_DECREF(tp);
}

/* Append value to the values of key (both checked). */
static int
append_value(PyObject *map, PyObject *key, PyObject *value)
{
    PyObject *values = PyDict_GetItemWithError(map, key);   /* borrowed */
    if (values != NULL) {
        return PyList_Append(values, value);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    values = PyList_New(1);
    if (values == NULL) {
        return -1;
    }
    PyList_SET_ITEM(values, 0, Py_NewRef(value));
    int rc = PyDict_SetItem(map, key, values);
    Py_DECREF(values);
    return rc;
}

/* add() without the read-only check. */
static int
add_checked(HeadersObject *self, PyObject *key, PyObject *value)
{
    gohttp_state *st = PyType_GetModuleState(Py_TYPE(self));
    PyObject *canonical = checked_key(st, key);
    if (canonical == NULL) {
        return -1;
    }
    int rc = -1;
    if (check_value(st, canonical, value) == 0) {
        Py_BEGIN_CRITICAL_SECTION(self);
        rc = append_value(self->map, canonical, value);
        Py_END_CRITICAL_SECTION();
    }
    Py_DECREF(canonical);
    return rc;
}

static PyObject *item_list(HeadersObject *self);

/* Add every (key, value) of items: Headers (every value), another
 * mapping, or an iterable of pairs. */
static int
add_items(HeadersObject *self, PyObject *items)
{
    PyObject *pairs = NULL, *iter = NULL, *pair = NULL;
    int rc = -1;

    if (Py_IS_TYPE(items, Py_TYPE(self))) {
        pairs = item_list(Headers_CAST(items));   /* not its items(): those
                                                     are first values */
    }
    else if (PyDict_Check(items) || PyObject_HasAttrString(items, "keys")) {
        pairs = PyMapping_Items(items);   /* a list of (key, value) */
    }
    else {
        pairs = Py_NewRef(items);
    }
    if (pairs == NULL || (iter = PyObject_GetIter(pairs)) == NULL) {
        goto done;
    }
    while ((pair = PyIter_Next(iter)) != NULL) {
        PyObject *seq = PySequence_Fast(pair, "");
        if (seq == NULL || PySequence_Fast_GET_SIZE(seq) != 2) {
            Py_XDECREF(seq);
            PyErr_Format(PyExc_TypeError, "Headers() takes a mapping or "
                         "(name, value) pairs, not an item %R", pair);
            goto done;
        }
        int added = add_checked(self, PySequence_Fast_GET_ITEM(seq, 0),
                                PySequence_Fast_GET_ITEM(seq, 1));
        Py_DECREF(seq);
        Py_CLEAR(pair);
        if (added < 0) {
            goto done;
        }
    }
    rc = PyErr_Occurred() ? -1 : 0;
done:
    Py_XDECREF(pair);
    Py_XDECREF(iter);
    Py_XDECREF(pairs);
    return rc;
}

static PyObject *
headers_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    PyObject *items = Py_None, *map = NULL, *self = NULL;
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Headers() takes no keyword "
                        "arguments: give a mapping or (name, value) pairs");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "Headers", 0, 1, &items)) {
        return NULL;
    }
    if ((map = PyDict_New()) == NULL) {
        return NULL;
    }
    self = headers_over(tp, map, 0);
    Py_DECREF(map);
    if (self != NULL && items != Py_None
        && add_items(Headers_CAST(self), items) < 0) {
        Py_CLEAR(self);
    }
    return self;   /* new reference */
}

/* ---- reading --------------------------------------------------------------- */

/* Borrowed: the values of key, or NULL (with an exception set only if
 * something failed). */
static PyObject *
values_of(HeadersObject *self, PyObject *key)
{
    PyObject *canonical = lookup_key(key);
    if (canonical == NULL) {
        return NULL;
    }
    PyObject *values = PyDict_GetItemWithError(self->map, canonical);
    Py_DECREF(canonical);
    return values;
}

PyDoc_STRVAR(get_doc,
"get(key, default=None, /)\n--\n\n"
"The first value of key, or default if there is none.");

/* 0 if a method that takes min to max arguments got nargs, else -1 with
 * TypeError. */
static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t min,
            Py_ssize_t max)
{
    if (nargs >= min && nargs <= max) {
        return 0;
    }
    if (min == max) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)",
                     name, min, nargs);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments "
                     "(%zd given)", name, min, max, nargs);
    }
    return -1;
}

static PyObject *
headers_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    HeadersObject *self = Headers_CAST(op);
    PyObject *result = NULL;
    if (check_nargs("get", nargs, 1, 2) < 0) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    PyObject *values = values_of(self, args[0]);
    if (values != NULL && PyList_GET_SIZE(values) > 0) {
        result = Py_NewRef(PyList_GET_ITEM(values, 0));
    }
    else if (!PyErr_Occurred()) {
        result = Py_NewRef(nargs > 1 ? args[1] : Py_None);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

PyDoc_STRVAR(get_all_doc,
"get_all(key, /)\n--\n\n"
"Every value of key, in order, as a new list; [] if there is none.");

static PyObject *
headers_get_all(PyObject *op, PyObject *key)
{
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    PyObject *values = values_of(Headers_CAST(op), key);
    if (values != NULL) {
        result = PyList_GetSlice(values, 0, PyList_GET_SIZE(values));
    }
    else if (!PyErr_Occurred()) {
        result = PyList_New(0);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

/* New reference: a list of every (key, value) pair, in order. */
static PyObject *
item_list(HeadersObject *self)
{
    PyObject *list = PyList_New(0), *key, *values;
    Py_ssize_t pos = 0;
    if (list == NULL) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(self);
    while (PyDict_Next(self->map, &pos, &key, &values)) {   /* borrowed */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
            PyObject *pair = PyTuple_Pack(2, key, PyList_GET_ITEM(values, i));
            if (pair == NULL || PyList_Append(list, pair) < 0) {
                Py_XDECREF(pair);
                Py_CLEAR(list);
                break;
            }
            Py_DECREF(pair);
        }
        if (list == NULL) {
            break;
        }
    }
    Py_END_CRITICAL_SECTION();
    return list;
}

PyDoc_STRVAR(multi_items_doc,
"multi_items()\n--\n\n"
"A new list of every (key, value) pair, in order: a key with several\n"
"values comes once per value.");

static PyObject *
headers_multi_items(PyObject *op, PyObject *unused)
{
    return item_list(Headers_CAST(op));   /* new reference */
}

/* Indexes of gohttp_state.mapping_views. */
enum { KEYS_VIEW, VALUES_VIEW, ITEMS_VIEW, NVIEWS };

/* New reference: a view of the headers as a Mapping of each key to its
 * first value: the collections.abc view, as a Mapping's mixin methods
 * make it (live, and case-insensitive as the headers are). */
static PyObject *
mapping_view(PyObject *op, int view)
{
    gohttp_state *st = PyType_GetModuleState(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
    }
    return PyObject_CallOneArg(st->mapping_views[view], op);
}

PyDoc_STRVAR(keys_doc,
"keys()\n--\n\n"
"A KeysView of the keys, in canonical form and insertion order.");

static PyObject *
headers_keys(PyObject *op, PyObject *unused)
{
    return mapping_view(op, KEYS_VIEW);
}

PyDoc_STRVAR(values_doc,
"values()\n--\n\n"
"A ValuesView of the first value of each key (h[key]); every value of\n"
"one key is get_all(key).");

static PyObject *
headers_values(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError, "values() takes no arguments: it "
                        "gives the first value of each key; for every value "
                        "of one key use get_all(key)");
        return NULL;
    }
    return mapping_view(op, VALUES_VIEW);
}

PyDoc_STRVAR(items_doc,
"items()\n--\n\n"
"An ItemsView of the (key, first value) pairs (h[key]); one pair per\n"
"value is multi_items().");

static PyObject *
headers_items(PyObject *op, PyObject *unused)
{
    return mapping_view(op, ITEMS_VIEW);
}

static PyObject *
headers_subscript(PyObject *op, PyObject *key)
{
    PyObject *result = NULL;
    Py_BEGIN_CRITICAL_SECTION(op);
    PyObject *values = values_of(Headers_CAST(op), key);
    if (values != NULL && PyList_GET_SIZE(values) > 0) {
        result = Py_NewRef(PyList_GET_ITEM(values, 0));
    }
    else if (!PyErr_Occurred()) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    Py_END_CRITICAL_SECTION();
    return result;
}

static int
headers_contains(PyObject *op, PyObject *key)
{
    if (!PyUnicode_Check(key)) {
        return 0;
    }
    PyObject *canonical = gohttp_canonical_key(key);
    if (canonical == NULL) {
        return -1;
    }
    int rc = PyDict_Contains(Headers_CAST(op)->map, canonical);
    Py_DECREF(canonical);
    return rc;
}

static PyObject *
headers_iter(PyObject *op)
{
    /* Over a copy of the keys: deleting while iterating is safe. */
    PyObject *keys = PyDict_Keys(Headers_CAST(op)->map), *iter;
    if (keys == NULL) {
        return NULL;
    }
    iter = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return iter;   /* new reference */
}

static Py_ssize_t
headers_length(PyObject *op)
{
    return PyDict_Size(Headers_CAST(op)->map);
}

static PyObject *
headers_richcompare(PyObject *op, PyObject *other, int cmp)
{
    if ((cmp != Py_EQ && cmp != Py_NE) || !Py_IS_TYPE(other, Py_TYPE(op))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return PyObject_RichCompare(Headers_CAST(op)->map,
                                Headers_CAST(other)->map, cmp);
}

static PyObject *
headers_repr(PyObject *op)
{
    PyObject *items = item_list(Headers_CAST(op)), *result = NULL;
    if (items != NULL) {
        result = PyUnicode_FromFormat("Headers(%R)", items);
        Py_DECREF(items);
    }
    return result;
}

PyDoc_STRVAR(copy_doc,
"copy()\n--\n\n"
"A mutable copy (also of read-only headers).");

static PyObject *
headers_copy(PyObject *op, PyObject *unused)
{
    HeadersObject *self = Headers_CAST(op);
    PyObject *map = PyDict_New(), *key, *values, *result = NULL;
    Py_ssize_t pos = 0;
    int failed = 0;
    if (map == NULL) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(op);
    while (!failed && PyDict_Next(self->map, &pos, &key, &values)) {
        PyObject *copy = PyList_GetSlice(values, 0, PyList_GET_SIZE(values));
        failed = copy == NULL || PyDict_SetItem(map, key, copy) < 0;
        Py_XDECREF(copy);
    }
    Py_END_CRITICAL_SECTION();
    if (!failed) {
        result = headers_over(Py_TYPE(op), map, 0);
    }
    Py_DECREF(map);
    return result;   /* new reference */
}

/* ---- writing --------------------------------------------------------------- */

/* New reference: the list [value], one that gohttp_headers_done kept
 * when there is one (an allocation and a free less), or NULL. */
static PyObject *
new_values(gohttp_state *st, PyObject *value)
{
    PyObject *values;
#ifndef Py_GIL_DISABLED
    if (st->nspare_lists > 0) {
        values = st->spare_lists[--st->nspare_lists];
        /* Its value is None: dropping it runs nothing. */
        Py_SETREF(((PyListObject *)values)->ob_item[0], Py_NewRef(value));
        return values;
    }
#endif
    if ((values = PyList_New(1)) != NULL) {
        PyList_SET_ITEM(values, 0, Py_NewRef(value));
    }
    return values;
}

/* Replace every value of key with value. */
static int
set_value(HeadersObject *self, PyObject *key, PyObject *value)
{
    if (check_writable(self) < 0) {
        return -1;
    }
    gohttp_state *st = PyType_GetModuleState(Py_TYPE(self));
    PyObject *canonical = checked_key(st, key), *values = NULL;
    int rc = -1;
    if (canonical == NULL || check_value(st, canonical, value) < 0) {
        goto done;
    }
    if ((values = new_values(st, value)) == NULL) {
        goto done;
    }
    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_SetItem(self->map, canonical, values);
    Py_END_CRITICAL_SECTION();
done:
    Py_XDECREF(values);
    Py_XDECREF(canonical);
    return rc;
}

/* Remove every value of key; with missing_ok 0, KeyError if none. */
static int
delete_key(HeadersObject *self, PyObject *key, int missing_ok)
{
    if (check_writable(self) < 0) {
        return -1;
    }
    PyObject *canonical = lookup_key(key);
    if (canonical == NULL) {
        return -1;
    }
    int rc;
    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_DelItem(self->map, canonical);
    Py_END_CRITICAL_SECTION();
    Py_DECREF(canonical);
    if (rc < 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        if (missing_ok) {
            return 0;
        }
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return rc;
}

PyDoc_STRVAR(set_doc,
"set(key, value, /)\n--\n\n"
"Replace every value of key with value.");

static PyObject *
headers_set(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("set", nargs, 2, 2) < 0
        || set_value(Headers_CAST(op), args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(add_doc,
"add(key, value, /)\n--\n\n"
"Add value to those of key.");

static PyObject *
headers_add(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    HeadersObject *self = Headers_CAST(op);
    if (check_nargs("add", nargs, 2, 2) < 0
        || check_writable(self) < 0
        || add_checked(self, args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(delete_doc,
"delete(key, /)\n--\n\n"
"Remove every value of key; nothing happens if there is none.");

static PyObject *
headers_delete(PyObject *op, PyObject *key)
{
    if (delete_key(Headers_CAST(op), key, 1) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
headers_ass_subscript(PyObject *op, PyObject *key, PyObject *value)
{
    return value == NULL ? delete_key(Headers_CAST(op), key, 0)
                         : set_value(Headers_CAST(op), key, value);
}

PyDoc_STRVAR(frozen_doc,
"_frozen(map, /)\n--\n\n"
"Read-only Headers over map ({canonical key: [values]}), which it takes\n"
"over: the caller must not change map afterwards.");

static PyObject *
headers_frozen(PyObject *cls, PyObject *map)
{
    if (!PyDict_Check(map)) {
        PyErr_Format(PyExc_TypeError, "_frozen() takes a dict, not %.200s",
                     Py_TYPE(map)->tp_name);
        return NULL;
    }
    return headers_over((PyTypeObject *)cls, map, 1);
}

/* ---- the type ---------------------------------------------------------------- */

static PyMethodDef headers_methods[] = {
    {"get", (PyCFunction)(void (*)(void))headers_get, METH_FASTCALL, get_doc},
    {"get_all", headers_get_all, METH_O, get_all_doc},
    {"multi_items", headers_multi_items, METH_NOARGS, multi_items_doc},
    {"keys", headers_keys, METH_NOARGS, keys_doc},
    {"values", (PyCFunction)(void (*)(void))headers_values, METH_FASTCALL,
     values_doc},
    {"items", headers_items, METH_NOARGS, items_doc},
    {"copy", headers_copy, METH_NOARGS, copy_doc},
    {"set", (PyCFunction)(void (*)(void))headers_set, METH_FASTCALL, set_doc},
    {"add", (PyCFunction)(void (*)(void))headers_add, METH_FASTCALL, add_doc},
    {"delete", headers_delete, METH_O, delete_doc},
    {"_frozen", headers_frozen, METH_O | METH_CLASS, frozen_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef headers_members[] = {
    {"_map", T_OBJECT, offsetof(HeadersObject, map), READONLY,
     PyDoc_STR("The dict {canonical key: [values]} behind the headers; "
               "for gohttp's own use.")},
    {NULL},
};

PyDoc_STRVAR(headers_doc,
"Headers(items=None, /)\n--\n\n"
"Case-insensitive, multi-valued HTTP headers, as Go's http.Header.\n\n"
"items is a mapping or an iterable of (name, value) pairs.  Keys are\n"
"kept in Go's canonical form, so a lookup in any case finds them.\n"
"w.header is a mutable Headers; req.headers a read-only one.  As a\n"
"Mapping, a key stands for its first value (h[key], keys(), values(),\n"
"items(), dict(h)); get_all(key) and multi_items() give every value.\n\n"
"    >>> h = Headers()\n"
"    >>> h.set(\"content-type\", \"text/plain\")\n"
"    >>> h.add(\"Set-Cookie\", \"a=1\"); h.add(\"set-cookie\", \"b=2\")\n"
"    >>> h.get(\"Content-Type\"), h.get_all(\"SET-COOKIE\")\n"
"    ('text/plain', ['a=1', 'b=2'])\n"
"    >>> \"content-TYPE\" in h, sorted(h)\n"
"    (True, ['Content-Type', 'Set-Cookie'])");

static PyType_Slot headers_slots[] = {
    {Py_tp_new, headers_new},
    {Py_tp_dealloc, headers_dealloc},
    {Py_tp_repr, headers_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_richcompare, headers_richcompare},
    {Py_tp_iter, headers_iter},
    {Py_tp_methods, headers_methods},
    {Py_tp_members, headers_members},
    {Py_tp_doc, (void *)headers_doc},
    {Py_mp_subscript, headers_subscript},
    {Py_mp_ass_subscript, headers_ass_subscript},
    {Py_mp_length, headers_length},
    {Py_sq_contains, headers_contains},
    {0, NULL},
};

PyType_Spec gohttp_headers_spec = {
    .name = "gohttp.Headers",
    .basicsize = sizeof(HeadersObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = headers_slots,
};

/* ---- canonical_key --------------------------------------------------------- */

const char gohttp_canonical_key_doc[] = (
"canonical_key(key, /)\n--\n\n"
"Return key in Go's canonical header form: \"x-request-id\" →\n"
"\"X-Request-Id\".  A key that is not a valid header name comes back\n"
"unchanged, as Go's textproto.CanonicalMIMEHeaderKey does.");

PyObject *
gohttp_canonical_key_function(PyObject *module, PyObject *key)
{
    return lookup_key(key);   /* new reference */
}

int
gohttp_headers_init_state(gohttp_state *st)
{
    static const char *const names[NVIEWS] = {
        [KEYS_VIEW] = "KeysView", [VALUES_VIEW] = "ValuesView",
        [ITEMS_VIEW] = "ItemsView",
    };
    PyObject *abc = PyImport_ImportModule("collections.abc");
    int rc = abc == NULL ? -1 : 0;
    for (int i = 0; i < NVIEWS && rc == 0; i++) {
        st->mapping_views[i] = PyObject_GetAttrString(abc, names[i]);
        rc = st->mapping_views[i] == NULL ? -1 : 0;
    }
    Py_XDECREF(abc);
    return rc;
}

void
gohttp_headers_clear_state(gohttp_state *st)
{
    for (int i = 0; i < NVIEWS; i++) {
        Py_CLEAR(st->mapping_views[i]);
    }
}

int
gohttp_headers_init(void)
{
    init_token_table();
    return 0;
}
