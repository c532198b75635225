/*
 * bridge.h — the one header both sides of the Go/C boundary include.
 *
 * Memory rules across the boundary (written once, here):
 *
 *  1. Go objects cross to C only as a cgo.Handle (a uintptr_t, never 0).
 *     C never holds a Go pointer past the call that handed it over.
 *  2. A request reaches C as (gohttp_request *, const char *data): both
 *     point into Go memory that holds no Go pointers, and both are valid
 *     only until the handler callback returns.  C copies what it keeps.
 *  3. Memory C hands to Go (write buffers, read buffers, packed headers)
 *     stays owned by C; Go copies what it keeps and never frees it.
 *  4. Every export returns a gohttp_status.  No Go panic crosses into C:
 *     exports recover and report GOHTTP_EPANIC with the message in
 *     gohttp_error.
 *  5. The C side owns Python objects; Go holds them only as opaque
 *     uintptr_t handler values that C promised to keep alive until the
 *     server is shut down and drained.
 */
#ifndef GOHTTP_BRIDGE_H
#define GOHTTP_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GOHTTP_OK = 0,
    GOHTTP_EINVAL = 1,  /* bad argument: maps to ValueError */
    GOHTTP_ESTATE = 2,  /* wrong state (finished request, closed server): RuntimeError */
    GOHTTP_EIO = 3,     /* I/O error (client gone, bind failed): OSError, errno set */
    GOHTTP_EPANIC = 4,  /* a Go panic was recovered: RuntimeError */
    GOHTTP_ETIMEOUT = 5 /* a wait timed out; not an error for most callers */
} gohttp_status;

/* Details of a failed call, filled by Go when the status is not GOHTTP_OK. */
typedef struct {
    int32_t sys_errno; /* errno of the underlying system call, or 0 */
    char message[512]; /* NUL-terminated, truncated to fit */
} gohttp_error;

/* A run of bytes inside the request's data block. */
typedef struct {
    uint32_t off;
    uint32_t len;
} gohttp_span;

/* Which span of gohttp_request.field holds what. */
enum {
    GOHTTP_F_METHOD,      /* "GET" */
    GOHTTP_F_URL,         /* the request-target as sent: "/a%20b?x=1" */
    GOHTTP_F_PATH,        /* percent-decoded path: "/a b" */
    GOHTTP_F_QUERY,       /* raw query, without '?': "x=1" */
    GOHTTP_F_HOST,        /* Host header or :authority */
    GOHTTP_F_PROTO,       /* "HTTP/1.1" */
    GOHTTP_F_REMOTE_ADDR, /* "127.0.0.1:53211" */
    GOHTTP_F_HEADERS,     /* packed pairs: key, value, key, value, ... */
    GOHTTP_F_PATH_VALUES, /* packed pairs: name, value, ... */
    GOHTTP_NFIELDS
};

/*
 * A packed list is a sequence of items, each a uint32_t length in native
 * byte order (unaligned: read it with memcpy) followed by that many bytes.
 */

/* What C learns about a request.  Plain integers only: it lives in Go memory. */
typedef struct {
    gohttp_span field[GOHTTP_NFIELDS];
    int64_t content_length; /* -1 when unknown (chunked upload) */
    uint32_t header_count;  /* pairs in GOHTTP_F_HEADERS */
    uint32_t path_value_count;
    uintptr_t call;         /* cgo.Handle of the call: pass to gohttp_call_* */
    uint64_t generation;    /* pass with call; stale pairs are refused */
} gohttp_request;

/* What a handler callback tells Go when it returns. */
typedef enum {
    GOHTTP_HANDLED = 0,     /* the response is complete */
    GOHTTP_FAILED = 1,      /* the handler raised: 500, or abort if started */
    GOHTTP_UNAVAILABLE = 2  /* the interpreter is shutting down: 503 */
} gohttp_outcome;

/*
 * The handler callback C registers with gohttp_set_dispatch.  Go calls it
 * on a goroutine's OS thread, which may differ on every call; handler is
 * the value given to gohttp_server_handle.
 */
typedef gohttp_outcome (*gohttp_dispatch_fn)(uintptr_t handler,
                                             const gohttp_request *req,
                                             const char *data);

/* Server settings, read by gohttp_server_listen during the call only. */
typedef struct {
    const char *host;              /* NUL-terminated; "" means all interfaces */
    int32_t port;                  /* 0: the OS picks */
    int64_t read_header_timeout_ns;/* 0: no limit */
    int64_t read_timeout_ns;
    int64_t write_timeout_ns;
    int64_t idle_timeout_ns;
    int64_t max_header_bytes;      /* 0: Go's default (1 MiB) */
} gohttp_config;

#endif /* GOHTTP_BRIDGE_H */
