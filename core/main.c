/* SPDX-License-Identifier: MIT */
/* ringwall's main(): command line, config, workers, signals. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admin/admin.h"
#include "config/config.h"
#include "core/io.h"
#include "core/log.h"
#include "proxy/proxy.h"

#define RW_DRAIN_MS_DEFAULT 30000 /* "shutdown_timeout" when the config leaves it 0 */

static void usage(FILE *f)
{
    fprintf(f, "usage: ringwall -c FILE [-t]\n"
               "       ringwall ctl [-s SOCKET] [--json] COMMAND [KEY=VALUE...]\n"
               "\n"
               "  -c, --config FILE   configuration file (JSON)\n"
               "  -t, --test          check the configuration and exit (0: valid, 2: errors)\n"
               "  -v, --version       print the version and exit\n"
               "  -h, --help          this text\n"
               "\n"
               "ctl: talk to a running ringwall over its admin socket (\"admin.socket\");\n"
               "  `ringwall ctl help` lists the commands, `ringwall ctl --help` the options\n"
               "\n"
               "environment:\n"
               "  RW_IO_BACKEND       io_uring | epoll | auto: overrides \"io_backend\"\n"
               "\n"
               "signals: SIGTERM/SIGINT finish requests in flight (up to \"shutdown_timeout\")\n"
               "  and stop, a second one stops at once; SIGUSR1 reopens the access log\n");
}

static enum rw_log_level level_of(const char *s)
{
    if (!strcmp(s, "error"))
        return RW_LOG_ERR;
    if (!strcmp(s, "warn"))
        return RW_LOG_WARN;
    if (!strcmp(s, "debug"))
        return RW_LOG_DEBUG;
    return RW_LOG_INFO;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int load(const char *path, struct rw_cfg **cfg)
{
    struct rw_cfg_errs errs = {0};
    int rc = rw_cfg_load_file(path, cfg, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
    rw_cfg_errs_clear(&errs);
    return rc;
}

/* Block the signals main handles so that every thread inherits the mask; main
 * reads them from a signalfd. */
static int signals_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static void wait_signals(int sfd, struct rw_proxy *p, uint32_t drain_ms)
{
    bool stopping = false;
    while (!stopping || !rw_proxy_done(p)) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, stopping ? 100 : 250) <= 0) {
            rw_proxy_tick(p);
            continue;
        }
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != sizeof(si))
            continue;
        if (si.ssi_signo == SIGUSR1) {
            rw_log(RW_LOG_INFO, "SIGUSR1: reopening the access log");
            rw_proxy_reopen_logs(p);
        } else if (si.ssi_signo == SIGHUP) {
            char msg[4096];
            rw_log(RW_LOG_INFO, "SIGHUP: reloading the configuration");
            rw_proxy_reload(p, NULL, msg, sizeof(msg)); /* logs the outcome */
        } else if (stopping) {
            rw_log(RW_LOG_INFO, "second stop signal: closing connections now");
            rw_proxy_stop(p, 0);
        } else {
            stopping = true;
            rw_log(RW_LOG_INFO, "stopping: finishing requests in flight (up to %u ms)",
                   drain_ms);
            rw_proxy_stop(p, drain_ms);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc >= 2 && !strcmp(argv[1], "ctl"))
        return rw_admin_ctl_main(argc - 1, argv + 1);
    const char *path = NULL;
    bool test = false;
    int o;
    while ((o = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            printf("ringwall %s\n", RW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    rw_log_set_thread("main");
    struct rw_cfg *cfg = NULL;
    if (load(path, &cfg) < 0)
        return 2;
    if (test) {
        printf("%s: configuration OK\n", path);
        rw_cfg_free(cfg);
        return 0;
    }
    rw_log_set_level(level_of(cfg->log_level));
    const char *want = getenv("RW_IO_BACKEND");
    if (!want || !*want)
        want = cfg->io_backend;
    int err = 0;
    const struct rw_io_ops *io = rw_io_select(want, &err);
    if (!io) {
        rw_log(RW_LOG_ERR, "io backend %s unavailable: %s", want,
               err == -ENOTSUP ? "unknown backend" : rw_strerror(err));
        rw_cfg_free(cfg);
        return 1;
    }
    uint32_t nworkers = cfg->workers;
    if (!nworkers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = n > 0 ? (uint32_t)n : 1;
    }
    raise_nofile();
    int sfd = signals_fd();
    /* From here on workers may log: lines go through the log thread, and every
     * return below stops it, which writes what is queued. */
    if ((err = rw_log_start(0)) < 0)
        rw_log(RW_LOG_WARN, "log thread: %s; logging synchronously", rw_strerror(err));
    struct rw_proxy *p = rw_proxy_new(cfg, io, nworkers, &err);
    if (!p || sfd < 0) {
        rw_log_stop();
        rw_cfg_free(cfg);
        return 1;
    }
    if ((err = rw_proxy_start(p)) < 0) {
        rw_log(RW_LOG_ERR, "start: %s", rw_strerror(err));
        rw_proxy_stop(p, 0);
        rw_proxy_free(p);
        rw_log_stop();
        rw_cfg_free(cfg);
        return 1;
    }
    rw_log(RW_LOG_INFO, "ringwall %s: io backend: %s, %u workers, %u listeners", RW_VERSION,
           io->name, nworkers, cfg->nlisteners);
    for (uint32_t i = 0; i < cfg->nlisteners; i++)
        rw_log(RW_LOG_INFO, "listening on %s (%s)", cfg->listeners[i].address,
               cfg->listeners[i].name);
    wait_signals(sfd, p, cfg->shutdown_timeout_ms ? cfg->shutdown_timeout_ms : RW_DRAIN_MS_DEFAULT);
    rw_proxy_free(p);
    rw_log(RW_LOG_INFO, "stopped");
    rw_log_stop();
    close(sfd);
    rw_cfg_free(cfg);
    return 0;
}
