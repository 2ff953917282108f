/* outdir.c - jen1-mkmodel's output: the files are written into
 * DIR.tmp-XXXXXX next to --out DIR, which is renamed to DIR once complete,
 * so DIR never holds a partial model. See mkmodel.h. */
#include "mkmodel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "util.h"

int outdir_path(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Creates dir/name (which must not exist) holding `len` bytes, fsynced. */
int outdir_write_file(const char *dir, const char *name, const void *data, size_t len,
                      char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (outdir_path(path, sizeof path, dir, name) != 0) {
        errbuf_printf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        errbuf_printf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errbuf_printf(err, errlen, "%s: cannot write: %s", path, n < 0 ? strerror(errno) : "short write");
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        errbuf_printf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* --out must not exist, or be an empty directory (the final rename replaces
 * an empty directory). */
static int check_out_dir(const char *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(out, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode)) {
        errbuf_printf(err, errlen, "--out %s: exists and is not a directory", out);
        return -1;
    }
    DIR *dir = opendir(out);
    if (!dir) {
        errbuf_printf(err, errlen, "--out %s: cannot read: %s", out, strerror(errno));
        return -1;
    }
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(dir)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(dir);
    if (!empty) {
        errbuf_printf(err, errlen, "--out %s: exists and is not empty", out);
        return -1;
    }
    return 0;
}

/* Removes a staging directory and the files in it (it has no subdirectories). */
void outdir_abandon(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        char file[PATH_MAX];
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0
                && outdir_path(file, sizeof file, path, e->d_name) == 0)
                unlink(file);
        closedir(dir);
    }
    rmdir(path);
}

static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}


int outdir_begin(const char *out, char *staging, size_t staging_len, char *err, size_t errlen)
{
    if (check_out_dir(out, err, errlen) != 0)
        return -1;
    /* The folder that will hold --out may not exist yet (build/models/ on a
     * fresh clone): make it, as mkdir -p would. */
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", out);
    char *slash = strrchr(folder, '/');
    if (slash && slash != folder) {
        *slash = '\0';
        if (path_mkdirs(folder, 0755) != 0) {
            errbuf_printf(err, errlen, "--out %s: cannot create the folder %s: %s", out, folder,
                    strerror(errno));
            return -1;
        }
    }
    int n = snprintf(staging, staging_len, "%s.tmp-XXXXXX", out);
    if (n < 0 || (size_t)n >= staging_len) {
        errbuf_printf(err, errlen, "--out: path too long");
        return -1;
    }
    if (!mkdtemp(staging)) {
        errbuf_printf(err, errlen, "--out %s: cannot create the staging directory %s.tmp-XXXXXX: %s", out,
                out, strerror(errno));
        return -1;
    }
    chmod(staging, 0755); /* mkdtemp makes it 0700; a model directory is for every reader */
    return 0;
}

int outdir_commit(const char *staging, const char *out, char *err, size_t errlen)
{
    sync_dir(staging);
    if (rename(staging, out) != 0) {
        errbuf_printf(err, errlen, "--out %s: cannot rename %s into place: %s", out, staging,
                strerror(errno));
        return -1;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s/..", out);
    sync_dir(parent);
    return 0;
}
