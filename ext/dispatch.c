/*
 * dispatch.c — Go calls Python: one handler call per request.
 *
 * Go runs a handler on whichever OS thread its goroutine has; Go keeps
 * those threads for the life of the process.  Three things make that
 * cheap and safe:
 *
 *  - One Python thread state per OS thread, made on the thread's first
 *    call and kept for its life: a bare PyGILState_Ensure/Release pair on
 *    a thread without one would make and free a thread state per request.
 *    The first PyGILState_Ensure on a thread is never released, so the
 *    gilstate counter never falls to zero; each call then attaches the
 *    thread's own thread state (PyEval_RestoreThread) with no lookup.
 *    The pthread key's destructor deletes the thread state if the thread
 *    ever exits.
 *  - The exit gate: a process-wide count of calls in flight and a closed
 *    flag, both atomic.  At interpreter exit the gate closes; later calls
 *    get 503 without touching Python, and the closer waits for those in
 *    flight, so no Go thread enters a finalizing interpreter.
 *  - Go bounds how many goroutines may be in here at once (max_handlers),
 *    so thousands of slow requests queue in Go instead of holding
 *    thousands of OS threads waiting for the GIL.
 *
 * No state here is protected by the GIL alone: the gate is atomic, the
 * rest is per thread.
 */
#include "module.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static atomic_int gate_closed;
static atomic_long gate_in_flight;

static atomic_long thread_states_made;   /* for tests: _thread_states() */

static pthread_key_t thread_state_key;
/* This OS thread's thread state, once it has one (borrowed: the thread
 * keeps it for life). */
static _Thread_local PyThreadState *thread_state;

/* The server whose handler this thread runs, or NULL (borrowed). */
static _Thread_local PyObject *current_server;

/* Enter the gate: 1 if Python may be entered, 0 if the gate is closed. */
static int
gate_enter(void)
{
    atomic_fetch_add(&gate_in_flight, 1);
    if (atomic_load(&gate_closed)) {
        atomic_fetch_sub(&gate_in_flight, 1);
        return 0;
    }
    return 1;
}

static void
gate_leave(void)
{
    atomic_fetch_sub(&gate_in_flight, 1);
}

/* Close the gate and wait, without the GIL, for up to timeout seconds for
 * the calls in flight.  Call with the GIL.  Returns 1 if none is left. */
int
gohttp_gate_close(double timeout)
{
    struct timespec tick = {0, 1000000};   /* 1 ms */
    long waited_ms = 0, limit_ms = (long)(timeout * 1000.0);
    long left;

    atomic_store(&gate_closed, 1);
    Py_BEGIN_ALLOW_THREADS
    while ((left = atomic_load(&gate_in_flight)) > 0 && waited_ms < limit_ms) {
        nanosleep(&tick, NULL);
        waited_ms++;
    }
    Py_END_ALLOW_THREADS
    return left == 0;
}

/* The pthread key destructor: the OS thread that owned value exits. */
static void
delete_thread_state(void *value)
{
    PyThreadState *tstate = value;
    if (!gate_enter()) {
        return;   /* the interpreter is going away: leave it be */
    }
    PyEval_RestoreThread(tstate);
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent();
    gate_leave();
}

int
gohttp_dispatch_init(void)
{
    return pthread_key_create(&thread_state_key, delete_thread_state) == 0
           ? 0 : -1;
}

/* Give this OS thread a thread state for life.  Call without the GIL. */
static void
keep_thread_state(void)
{
    (void)PyGILState_Ensure();   /* never released: see the top */
    pthread_setspecific(thread_state_key, PyThreadState_Get());
    thread_state = PyEval_SaveThread();
    atomic_fetch_add(&thread_states_made, 1);
}

long
gohttp_thread_states_made(void)
{
    return atomic_load(&thread_states_made);
}

PyObject *
gohttp_current_server(void)
{
    return current_server;
}

/* Run one handler with the GIL held. */
static gohttp_outcome
run_handler(gohttp_route *route, const gohttp_request *req, const char *data,
            gohttp_reply *reply, char *reply_buf)
{
    gohttp_state *st = route->state;
    gohttp_outcome outcome = GOHTTP_FAILED;
    PyObject *handler = Py_NewRef(route->handler);
    PyObject *w = NULL, *r = NULL, *result = NULL;
    PyObject *saved_server = current_server;

    if (Py_IS_TYPE(handler, st->WSGIAppType)) {
        current_server = route->server;
        outcome = gohttp_wsgi_run(handler, req, data, reply, reply_buf);
        current_server = saved_server;
        Py_DECREF(handler);
        return outcome;
    }
    r = gohttp_request_new(st, req, data);
    if (r == NULL) {
        goto error;
    }
    w = gohttp_response_new(st, req, reply, reply_buf);
    if (w == NULL) {
        goto error;
    }
    current_server = route->server;
    PyObject *args[] = {w, r};
    result = PyObject_Vectorcall(handler, args, 2, NULL);
    current_server = saved_server;
    if (result == NULL) {
        goto error;
    }
    if (result != Py_None
        && PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
               "handler %R returned %.200s, which is ignored: write the "
               "response with w.write()", handler,
               Py_TYPE(result)->tp_name) < 0) {
        goto error;
    }
    if (gohttp_response_finish(w) < 0) {
        goto error;
    }
    outcome = GOHTTP_HANDLED;
    goto done;

error:
    gohttp_log_exception(st, "error in handler %R for %R", handler,
                         r != NULL ? r : Py_None);
done:
    gohttp_views_end(r, w);
    Py_XDECREF(result);
    Py_DECREF(handler);
    return outcome;
}

/* Nanoseconds on clock since *start. */
static int64_t
nanoseconds_since(clockid_t clock, const struct timespec *start)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000000
           + (now.tv_nsec - start->tv_nsec);
}

/* The gohttp_dispatch_fn Go calls for every request (bridge.h).  When Go
 * asks (reply->timed), it times the handler for the lane. */
gohttp_outcome
gohttp_dispatch(uintptr_t handler, const gohttp_request *req, const char *data,
                gohttp_reply *reply, char *reply_buf)
{
    if (!gate_enter()) {
        return GOHTTP_UNAVAILABLE;
    }
    if (thread_state == NULL) {
        keep_thread_state();
    }
    /* The thread's own thread state, which PyGILState_Ensure would look up
     * and count: a handler's own PyGILState_Ensure still finds it. */
    PyEval_RestoreThread(thread_state);
    /* Read once: the handler gets reply, and the clocks must pair up. */
    const int timed = reply->timed;
    struct timespec ran = {0, 0}, cpu = {0, 0};
    if (timed) {
        clock_gettime(CLOCK_MONOTONIC, &ran);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    }
    gohttp_outcome outcome = run_handler((gohttp_route *)handler, req, data,
                                         reply, reply_buf);
    if (timed) {
        reply->ran_ns = nanoseconds_since(CLOCK_MONOTONIC, &ran);
        reply->cpu_ns = nanoseconds_since(CLOCK_THREAD_CPUTIME_ID, &cpu);
    }
    (void)PyEval_SaveThread();
    gate_leave();
    return outcome;
}
