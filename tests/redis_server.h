/* redis_server.h - a private redis-server for a C test, never the machine's:
 *
 *   redis_server rs;
 *   if (redis_server_start(&rs, NULL) != 0) ...   // rs.port, rs.url, rs.socket
 *   ... redis_server_stop(&rs); redis_server_restart(&rs); ...
 *   redis_server_cleanup(&rs);                     // or leave it to exit
 *
 * Each server listens on 127.0.0.1 at a free port (bound to port 0 first to
 * find one; a collision with another process is retried) and on a unix
 * socket, in a fresh directory under check_tmp_dir(), with no persistence
 * (--save '' --appendonly no) unless the extra arguments say otherwise
 * (later arguments win: {"--appendonly", "yes", NULL} keeps the data across
 * a stop and restart). Servers still running at exit are stopped, and one
 * whose test process dies is killed by the kernel (PR_SET_PDEATHSIG).
 * Needs _GNU_SOURCE (the Makefile defines it). */
#ifndef JEN1_REDIS_SERVER_H
#define JEN1_REDIS_SERVER_H

#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_SERVER_MAX_EXTRA 16

typedef struct redis_server {
    pid_t pid;                 /* 0 when stopped */
    int port;
    char dir[256];             /* absolute */
    char socket[300];          /* the unix socket's path */
    char url[64];              /* redis://127.0.0.1:PORT */
    int n_extra;
    char *extra[REDIS_SERVER_MAX_EXTRA];
} redis_server;

static redis_server *redis_servers_running[8];

static inline void redis_server_note(redis_server *s, int running)
{
    for (size_t i = 0; i < sizeof redis_servers_running / sizeof *redis_servers_running; i++) {
        if (running && !redis_servers_running[i]) {
            redis_servers_running[i] = s;
            return;
        }
        if (!running && redis_servers_running[i] == s) {
            redis_servers_running[i] = NULL;
            return;
        }
    }
}

/* A port nobody listens on right now. */
static inline int redis_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Whether a server on the port serves: PING answers +PONG, or -NOAUTH when it
 * wants a password (not -LOADING while it reads its data back). */
static inline int redis_server_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[64] = {0};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "PING\r\n", 6) == 6 &&
             read(fd, buf, sizeof buf - 1) > 0 && (buf[0] == '+' || strncmp(buf, "-NOAUTH", 7) == 0);
    close(fd);
    return ok;
}

static inline void redis_server_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline pid_t redis_server_spawn(redis_server *s)
{
    char port[16], logfile[300];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(logfile, sizeof logfile, "%s/redis.log", s->dir);
    const char *argv[24 + REDIS_SERVER_MAX_EXTRA] = {
        "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", s->dir,
        "--unixsocket", s->socket, "--unixsocketperm", "700", "--logfile", logfile,
        "--save", "", "--appendonly", "no", "--daemonize", "no",
    };
    int n = 19;
    for (int i = 0; i < s->n_extra; i++) argv[n++] = s->extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Spawns on s->port and waits up to 5 s for it to answer. 0, or -1 when it
 * exited (the port was taken) or never answered. */
static inline int redis_server_launch(redis_server *s)
{
    s->pid = redis_server_spawn(s);
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    for (int waited = 0; waited < 5000; waited += 10) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        if (redis_server_answers(s->port)) {
            redis_server_note(s, 1);
            return 0;
        }
        redis_server_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* Stops it (SIGTERM: a server with persistence on writes its data first)
 * and waits for it. The directory stays, for a restart. */
static inline int redis_server_stop(redis_server *s)
{
    if (!s->pid) return 0;
    kill(s->pid, SIGTERM);
    int status = 0;
    for (int waited = 0; waitpid(s->pid, &status, WNOHANG) == 0; waited += 10) {
        if (waited >= 10000) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        redis_server_sleep_ms(10);
    }
    redis_server_note(s, 0);
    s->pid = 0;
    return 0;
}

static inline int redis_server_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Stops it and removes its directory. */
static inline void redis_server_cleanup(redis_server *s)
{
    redis_server_stop(s);
    if (s->dir[0]) nftw(s->dir, redis_server_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = '\0';
    for (int i = 0; i < s->n_extra; i++) free(s->extra[i]);
    s->n_extra = 0;
}

static inline void redis_server_cleanup_all(void)
{
    for (size_t i = 0; i < sizeof redis_servers_running / sizeof *redis_servers_running; i++)
        if (redis_servers_running[i]) redis_server_cleanup(redis_servers_running[i]);
}

/* Starts a server; `extra` is a NULL-terminated list of more arguments (or
 * NULL). Returns 0, or -1 with a message on stderr. */
static inline int redis_server_start(redis_server *s, const char *const *extra)
{
    static int registered;
    if (!registered) {
        atexit(redis_server_cleanup_all);
        registered = 1;
    }
    memset(s, 0, sizeof *s);
    for (; extra && extra[s->n_extra] && s->n_extra < REDIS_SERVER_MAX_EXTRA; s->n_extra++)
        s->extra[s->n_extra] = strdup(extra[s->n_extra]);

    char tmpl[256];
    mkdir(check_tmp_dir(), 0755);
    snprintf(tmpl, sizeof tmpl, "%s/redis.XXXXXX", check_tmp_dir());
    char *dir = mkdtemp(tmpl) ? realpath(tmpl, NULL) : NULL;
    if (!dir || strlen(dir) + sizeof "/redis.sock" > sizeof s->dir) {
        fprintf(stderr, "redis_server: cannot make a short directory under %s: %s\n", check_tmp_dir(),
                dir ? "path too long for a unix socket" : strerror(errno));
        free(dir);
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    free(dir);
    snprintf(s->socket, sizeof s->socket, "%s/redis.sock", s->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = redis_server_free_port();
        if (s->port > 0 && redis_server_launch(s) == 0) {
            snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
            return 0;
        }
    }
    fprintf(stderr, "redis_server: redis-server did not start; see %s/redis.log\n", s->dir);
    return -1;
}

/* Starts it again on the same port, directory and arguments. 0 or -1. */
static inline int redis_server_restart(redis_server *s)
{
    redis_server_stop(s);
    for (int attempt = 0; attempt < 50; attempt++) { /* the port may linger a moment */
        if (redis_server_launch(s) == 0) return 0;
        redis_server_sleep_ms(100);
    }
    fprintf(stderr, "redis_server: could not restart on port %d; see %s/redis.log\n", s->port, s->dir);
    return -1;
}

#endif
