/* errbuf.h - the project's one way of reporting an error: a function returns
 * a status and writes a message into the caller's buffer. */
#ifndef JEN1_ERRBUF_H
#define JEN1_ERRBUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* printf into err (errlen bytes, always NUL-terminated, truncated if need
 * be). err may be NULL when errlen is 0. */
void errbuf_printf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
