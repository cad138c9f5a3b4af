/* The job listener (see job_listener.h). It polls the listener's socket and a pipe that
 * job_listener_stop writes to, so stopping never waits for a timeout; while the database
 * is unreachable it retries once a second. */
#include "worker/job_listener.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "store/store.h"

#define RETRY_MS 1000

struct job_listener {
    struct store_listener *listener;
    void (*on_work)(void *);
    void *arg;
    int stop_pipe[2];
    pthread_t thread;
};

/* Waits for the listener's socket (or RETRY_MS without one); false once asked to stop. */
static bool wait_for_input(struct job_listener *jl)
{
    int fd = store_listener_fd(jl->listener);
    struct pollfd fds[2] = {{.fd = jl->stop_pipe[0], .events = POLLIN},
                            {.fd = fd, .events = POLLIN}};
    int n = poll(fds, fd >= 0 ? 2 : 1, RETRY_MS);
    if (n < 0 && errno != EINTR)
        log_msg(LOG_WARN, "worker: job listener poll failed");
    return !(n > 0 && fds[0].revents);
}

static void *listen_main(void *arg)
{
    struct job_listener *jl = arg;
    bool down = false;
    while (wait_for_input(jl)) {
        int rc = store_listener_drain(jl->listener);
        if (rc > 0)
            jl->on_work(jl->arg);
        if (rc < 0 && !down)
            log_msg(LOG_WARN, "worker: lost the job notifications; retrying every second");
        down = rc < 0;
    }
    return NULL;
}

struct job_listener *job_listener_start(struct store *s, void (*on_work)(void *), void *arg)
{
    struct store_listener *l = NULL;
    if (store_listener_open(s, &l) != STORE_OK || !l)
        return NULL;
    struct job_listener *jl = xcalloc(1, sizeof *jl);
    jl->listener = l;
    jl->on_work = on_work;
    jl->arg = arg;
    if (pipe(jl->stop_pipe) != 0) {
        store_listener_close(l);
        xfree(jl);
        return NULL;
    }
    if (pthread_create(&jl->thread, NULL, listen_main, jl) != 0) {
        close(jl->stop_pipe[0]);
        close(jl->stop_pipe[1]);
        store_listener_close(l);
        xfree(jl);
        return NULL;
    }
    return jl;
}

void job_listener_stop(struct job_listener *jl)
{
    if (!jl)
        return;
    ssize_t w;
    do
        w = write(jl->stop_pipe[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(jl->thread, NULL);
    close(jl->stop_pipe[0]);
    close(jl->stop_pipe[1]);
    store_listener_close(jl->listener);
    xfree(jl);
}
