/* blob_file.c - the file:// blob store: one file per key in a directory.
 *
 * A put writes ".<key>.<pid>.<n>~tmp" (created with O_EXCL; '~' is never
 * in a key, so a temporary never collides with an object), fsyncs it,
 * renames it over "<key>" and fsyncs the directory: readers see the old
 * object or the new one, whole, and so does the disk after a crash. Every
 * error path removes the temporary; opening the store removes those left
 * by processes that died mid-put (the store is for one machine, so a pid
 * that no longer runs here wrote its last byte). Every I/O failure is
 * BLOB_UNAVAILABLE: a full disk or a wrong mode is for an operator to fix,
 * after which the same put succeeds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "blob_backend.h"
#include "errbuf.h"
#include "util.h"

#define TMP_SUFFIX "~tmp"

/* Audio is the callers' data: the pool's user writes it, its group reads it
 * (add a web server that serves the store to that group), others nothing.
 * Explicit, not the process's umask's 0666/0777: a umask may take more away
 * (the unit's UMask=0027 gives the same), never add. */
#define BLOB_FILE_MODE 0640
#define BLOB_DIR_MODE 0750

typedef struct file_store {
    char *dir;
} file_store;

static unsigned long tmp_counter;

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s", dir, name);
    return path;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The pid a temporary's name carries (".<key>.<pid>.<n>~tmp"), or 0. */
static pid_t tmp_owner(const char *name)
{
    size_t n = strlen(name), suffix = strlen(TMP_SUFFIX);
    if (name[0] != '.' || n <= suffix || strcmp(name + n - suffix, TMP_SUFFIX) != 0) return 0;
    /* Walk back over "<n>" and "<pid>". */
    const char *end = name + n - suffix, *p = end;
    for (int field = 0; field < 2; field++) {
        const char *digits_end = p;
        while (p > name && p[-1] >= '0' && p[-1] <= '9') p--;
        if (p == digits_end || p == name || p[-1] != '.') return 0;
        if (field == 1) return (pid_t)strtol(p, NULL, 10);
        p--;
    }
    return 0;
}

/* Removes the temporaries of processes that no longer run. */
static void remove_orphans(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t owner = tmp_owner(e->d_name);
        if (owner > 0 && owner != getpid() && kill(owner, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Creates a fresh temporary for key; returns its fd and path, or -1. */
static int create_tmp(const file_store *fs, const char *key, char **tmp_path)
{
    char name[BLOB_KEY_MAX + 64];
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long n = __atomic_fetch_add(&tmp_counter, 1, __ATOMIC_RELAXED);
        snprintf(name, sizeof name, ".%s.%ld.%lu" TMP_SUFFIX, key, (long)getpid(), n);
        char *path = join(fs->dir, name);
        if (!path) return -1;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, BLOB_FILE_MODE);
        /* The directory may have been removed since the store was opened. */
        if (fd < 0 && errno == ENOENT && path_mkdirs(fs->dir, BLOB_DIR_MODE) == 0)
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, BLOB_FILE_MODE);
        if (fd >= 0) {
            *tmp_path = path;
            return fd;
        }
        int saved = errno;
        free(path);
        errno = saved;
        if (errno != EEXIST) return -1;
    }
    return -1;
}

static blob_status file_put(void *impl, const char *key, const char *where, const void *data,
                            size_t len, const char *content_type, char *err, size_t errlen)
{
    (void)content_type;
    file_store *fs = impl;
    char *tmp = NULL;
    int fd = create_tmp(fs, key, &tmp);
    if (fd < 0) {
        errbuf_printf(err, errlen, "%s: cannot create a temporary file in %s: %s", where, fs->dir,
                     strerror(errno));
        return BLOB_UNAVAILABLE;
    }
    char *final = join(fs->dir, key);
    const char *step = NULL;
    if (!final) {
        step = "out of memory";
        errno = ENOMEM;
    } else if (write_all(fd, data, len) != 0) {
        step = "cannot write";
    } else if (fsync(fd) != 0) {
        step = "cannot flush to disk";
    }
    int saved = errno;
    if (close(fd) != 0 && !step) {
        step = "cannot close";
        saved = errno;
    }
    if (!step && rename(tmp, final) != 0) {
        step = "cannot rename the temporary into place";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
    } else if (sync_dir(fs->dir) != 0) {
        step = "cannot flush the directory to disk";
        saved = errno;
    }
    free(tmp);
    free(final);
    if (step) {
        errbuf_printf(err, errlen, "%s: %s: %s", where, step, strerror(saved));
        return BLOB_UNAVAILABLE;
    }
    return BLOB_OK;
}

static blob_status file_get(void *impl, const char *key, const char *where, unsigned char **data,
                            size_t *len, char *err, size_t errlen)
{
    file_store *fs = impl;
    char *path = join(fs->dir, key);
    if (!path) {
        errbuf_printf(err, errlen, "%s: out of memory", where);
        return BLOB_UNAVAILABLE;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) {
        if (errno == ENOENT) {
            errbuf_printf(err, errlen, "%s: no such object", where);
            return BLOB_NOT_FOUND;
        }
        errbuf_printf(err, errlen, "%s: cannot open: %s", where, strerror(errno));
        return BLOB_UNAVAILABLE;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errbuf_printf(err, errlen, "%s: not a regular file", where);
        close(fd);
        return BLOB_UNAVAILABLE;
    }
    size_t size = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        errbuf_printf(err, errlen, "%s: out of memory for %zu bytes", where, size);
        close(fd);
        return BLOB_UNAVAILABLE;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    /* Objects are replaced by rename, never rewritten: a short read means
     * the file was truncated behind our back. */
    if (got != size) {
        errbuf_printf(err, errlen, "%s: read %zu of %zu bytes", where, got, size);
        free(buf);
        return BLOB_UNAVAILABLE;
    }
    *data = buf;
    *len = size;
    return BLOB_OK;
}

static blob_status file_remove(void *impl, const char *key, const char *where, char *err,
                               size_t errlen)
{
    file_store *fs = impl;
    char *path = join(fs->dir, key);
    if (!path) {
        errbuf_printf(err, errlen, "%s: out of memory", where);
        return BLOB_UNAVAILABLE;
    }
    int rc = unlink(path);
    int saved = errno;
    free(path);
    if (rc != 0 && saved != ENOENT) {
        errbuf_printf(err, errlen, "%s: cannot remove: %s", where, strerror(saved));
        return BLOB_UNAVAILABLE;
    }
    return BLOB_OK;
}

static void file_close(void *impl)
{
    file_store *fs = impl;
    if (!fs) return;
    free(fs->dir);
    free(fs);
}

static const blob_backend file_backend = {file_put, file_get, file_remove, file_close};

blob_status blob_file_open(const char *dir, const blob_backend **backend, void **impl, char *err,
                           size_t errlen)
{
    if (path_mkdirs(dir, BLOB_DIR_MODE) != 0) {
        errbuf_printf(err, errlen, "blob store directory %s: cannot create it: %s", dir, strerror(errno));
        return BLOB_UNAVAILABLE;
    }
    file_store *fs = calloc(1, sizeof *fs);
    if (!fs || !(fs->dir = strdup(dir))) {
        free(fs);
        errbuf_printf(err, errlen, "out of memory");
        return BLOB_UNAVAILABLE;
    }
    remove_orphans(dir);
    *backend = &file_backend;
    *impl = fs;
    return BLOB_OK;
}
