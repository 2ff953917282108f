/* protocol.h - the words of the Redis contract (docs/protocol.md) that every
 * side speaks: the job-id rule and the stable error codes.
 *
 * Each is written once, here. The queue's Lua scripts get their copies from
 * the macros below (PROTOCOL_ID_LUA, PROTOCOL_ERRORS_LUA, pasted into their
 * text at compile time), so a rule changed here changes in C and in Lua at
 * once; tests/unit/test_protocol.c holds the two to the same verdicts through
 * a real redis-server, and the error table to docs/protocol.md's.
 *
 *     if (!protocol_id_valid(id, len)) ...        // [A-Za-z0-9_.-]{1,128}, not "." or ".."
 *     queue_fail(q, job, protocol_error_name(PROTOCOL_TIMEOUT), why,
 *                protocol_error_transient(PROTOCOL_TIMEOUT), ...);
 */
#ifndef JEN1_PROTOCOL_H
#define JEN1_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

/* ---- The job id ---------------------------------------------------------- */

/* A job id is 1 to PROTOCOL_ID_MAX characters: ASCII letters, digits and
 * those of PROTOCOL_ID_PUNCT, and not "." or ".." (it names Redis keys and
 * the audio object, so it must never read as a path). */
#define PROTOCOL_ID_MAX 128
#define PROTOCOL_ID_PUNCT "_.-"

/* Whether id[0..len) is a valid job id. The length is given, not found: a
 * JSON string may hold a NUL, which makes an id invalid. */
bool protocol_id_valid(const char *id, size_t len);

/* The same for a NUL-terminated id; NULL is not valid. */
bool protocol_id_valid_str(const char *id);

/* Whether c may stand in an id. Blob keys (blob.h), which are named after
 * ids, use the same characters. */
bool protocol_id_char(unsigned char c);

#define PROTOCOL_STR_(x) #x
#define PROTOCOL_STR(x) PROTOCOL_STR_(x)

/* Lua: `valid_id(id)`, the same rule for a value read from a payload. The
 * punctuation is escaped for the pattern by Lua itself ('%' before each). */
#define PROTOCOL_ID_LUA                                                                          \
    "local ID_PATTERN = '^[A-Za-z0-9' .. (string.gsub('" PROTOCOL_ID_PUNCT "', '%p', '%%%0')) .. ']+$'\n" \
    "local function valid_id(id)\n"                                                              \
    "  return type(id) == 'string' and #id <= " PROTOCOL_STR(PROTOCOL_ID_MAX) "\n"               \
    "    and id ~= '.' and id ~= '..' and string.find(id, ID_PATTERN) ~= nil\n"                  \
    "end\n"

/* ---- JSON nesting -------------------------------------------------------- */

/* The deepest nesting of arrays and objects a job may have, on every path in
 * (POST /generate, jen1ctl, the worker's parse). jansson reads 2,048 levels
 * and Redis's cjson 1,000: a job between the two was accepted by one side and
 * unreadable to the other. One limit far below both ends that. */
#define PROTOCOL_JSON_MAX_DEPTH 32

/* Whether the JSON text text[0..len) nests at most max_depth levels deep
 * (brackets inside strings do not count). It does not check the rest of the
 * syntax: a parser still does that, knowing the text will not run it deep. */
bool protocol_json_depth_ok(const char *text, size_t len, int max_depth);

/* ---- Error codes --------------------------------------------------------- */

/* Every error code of docs/protocol.md's Failure table: its enum name, its
 * stable name (the job hash's `error`, the events' "error") and whether it is
 * transient (retried with backoff) rather than permanent or final. */
#define PROTOCOL_ERRORS(X)                              \
    X(INVALID_JSON, "invalid_json", false)              \
    X(INVALID_JOB, "invalid_job", false)                \
    X(MODEL_MISMATCH, "model_mismatch", false)          \
    X(TOO_LONG, "too_long", false)                      \
    X(TIMEOUT, "timeout", false)                        \
    X(CANCELLED, "cancelled", false)                    \
    X(BLOB_UNAVAILABLE, "blob_unavailable", true)       \
    X(BLOB_REJECTED, "blob_rejected", false)            \
    X(REDIS_UNAVAILABLE, "redis_unavailable", true)     \
    X(ENGINE_ERROR, "engine_error", true)               \
    X(TOO_MANY_ATTEMPTS, "too_many_attempts", false)   \
    X(DUPLICATE_ID, "duplicate_id", false)

#define PROTOCOL_ERROR_ENUM_(id, name, transient) PROTOCOL_##id,
typedef enum protocol_error {
    PROTOCOL_OK = 0, /* no error ("ok"), so that job_status can map onto this enum */
    PROTOCOL_ERRORS(PROTOCOL_ERROR_ENUM_)
    PROTOCOL_N_CODES
} protocol_error;
#undef PROTOCOL_ERROR_ENUM_

/* The stable name ("invalid_job", ...; "ok"), or NULL for a value outside the enum. */
const char *protocol_error_name(protocol_error code);

/* Whether a failure with this code is retried (docs/protocol.md's "transient"). */
bool protocol_error_transient(protocol_error code);

/* The code of a stable name: true and *out, or false when `name` is none. */
bool protocol_error_parse(const char *name, protocol_error *out);

/* Lua: one `local ERR_<ID> = '<name>'` per code, for the scripts that write
 * one themselves (a misspelt ERR_ is a script error, not a new code). */
#define PROTOCOL_ERROR_LUA_(id, name, transient) "local ERR_" #id " = '" name "'\n"
#define PROTOCOL_ERRORS_LUA PROTOCOL_ERRORS(PROTOCOL_ERROR_LUA_)

#endif
