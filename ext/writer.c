/*
 * writer.c — the calls into Go of writer.h's response writer.
 *
 * A call that may reach the socket lets go of the caller's lock (the
 * GIL) first, so a slow client does not stall other handlers.  Go
 * buffers the first bytes of a body (net/http's bufferBeforeChunkingSize)
 * without touching the socket: calls that stay within it cannot block,
 * so they keep the lock and skip two handoffs.
 */
#include "writer.h"

#define GO_BODY_BUFFER 2048

/* Let go of w's lock, if it has one, when blocking: *token then holds
 * what relock takes.  Returns whether it did. */
static int
unlock(const gohttp_writer *w, int blocking, void **token)
{
    if (!blocking || w->unlocker == NULL) {
        return 0;
    }
    *token = w->unlocker->release();
    return 1;
}

static void
relock(const gohttp_writer *w, int unlocked, void *token)
{
    if (unlocked) {
        w->unlocker->acquire(token);
    }
}

gohttp_status
gohttp_writer_commit(gohttp_writer *w, int code, const char *headers,
                     size_t size, const char *body, size_t n,
                     size_t *written, gohttp_error *err)
{
    uintptr_t call = w->call;
    uint64_t generation = w->generation;
    void *token = NULL;
    int sent = 0;
    *written = 0;
    int unlocked = unlock(w, n > GO_BODY_BUFFER, &token);
    gohttp_status status = gohttp_call_write_header(
        call, generation, code, (char *)headers, size, (char *)body, n,
        written, &sent, err);
    relock(w, unlocked, token);
    w->written += (int64_t)*written;
    if (sent && gohttp_code_is_final(code)) {
        w->started = 1;   /* even if the body part failed */
    }
    return status;
}

gohttp_status
gohttp_writer_release(gohttp_writer *w, gohttp_error *err)
{
    if (!w->held) {
        return GOHTTP_OK;
    }
    gohttp_reply *reply = w->reply;
    char *buf = w->reply_buf;
    size_t headers_len = reply->header_len, body_len = reply->body_len;
    size_t written = 0;
    int sent = 0;
    int code = reply->status;
    uintptr_t call = w->call;
    uint64_t generation = w->generation;
    void *token = NULL;

    w->held = 0;
    reply->status = 0;   /* Go must not send it again */
    int unlocked = unlock(w, body_len > GO_BODY_BUFFER, &token);
    gohttp_status status = gohttp_call_write_header(
        call, generation, code, buf, headers_len, buf + headers_len,
        body_len, &written, &sent, err);
    relock(w, unlocked, token);
    return status;   /* the body was counted in w->written when held */
}

gohttp_status
gohttp_writer_send(gohttp_writer *w, const char *p, size_t n,
                   size_t *written, gohttp_error *err)
{
    void *token = NULL;
    *written = 0;
    gohttp_status status = gohttp_writer_release(w, err);
    if (status != GOHTTP_OK || n == 0) {
        return status;
    }
    uintptr_t call = w->call;
    uint64_t generation = w->generation;
    int unlocked = unlock(w, w->written + (int64_t)n > GO_BODY_BUFFER,
                          &token);
    status = gohttp_call_write(call, generation, (char *)p, n, written, err);
    relock(w, unlocked, token);
    w->written += (int64_t)*written;
    return status;
}

gohttp_status
gohttp_writer_flush(gohttp_writer *w, gohttp_error *err)
{
    void *token = NULL;
    gohttp_status status = gohttp_writer_release(w, err);
    if (status != GOHTTP_OK) {
        return status;
    }
    uintptr_t call = w->call;
    uint64_t generation = w->generation;
    int unlocked = unlock(w, 1, &token);
    status = gohttp_call_flush(call, generation, err);
    relock(w, unlocked, token);
    return status;
}

gohttp_status
gohttp_writer_send_file(gohttp_writer *w, int fd, int64_t offset,
                        int64_t count, int64_t *written, gohttp_error *err)
{
    void *token = NULL;
    *written = 0;
    gohttp_status status = gohttp_writer_release(w, err);
    if (status != GOHTTP_OK) {
        return status;
    }
    uintptr_t call = w->call;
    uint64_t generation = w->generation;
    int unlocked = unlock(w, 1, &token);
    status = gohttp_call_send_file(call, generation, fd, offset, count,
                                   written, err);
    relock(w, unlocked, token);
    w->written += *written;
    return status;
}
