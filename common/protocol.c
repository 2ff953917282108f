/* protocol.c - see protocol.h. */
#include "protocol.h"

#include <string.h>

bool protocol_id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(PROTOCOL_ID_PUNCT, c));
}

bool protocol_id_valid(const char *id, size_t len)
{
    if (len < 1 || len > PROTOCOL_ID_MAX) return false;
    if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.')) return false;
    for (size_t i = 0; i < len; i++)
        if (!protocol_id_char((unsigned char)id[i])) return false;
    return true;
}

bool protocol_id_valid_str(const char *id)
{
    return id && protocol_id_valid(id, strlen(id));
}

bool protocol_json_depth_ok(const char *text, size_t len, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i++; /* the escaped character cannot end the string */
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

#define PROTOCOL_ERROR_ROW_(id, name, transient) [PROTOCOL_##id] = {name, transient},
static const struct {
    const char *name;
    bool transient;
} codes[PROTOCOL_N_CODES] = {
    [PROTOCOL_OK] = {"ok", false},
    PROTOCOL_ERRORS(PROTOCOL_ERROR_ROW_)
};

const char *protocol_error_name(protocol_error code)
{
    return (unsigned)code < PROTOCOL_N_CODES ? codes[code].name : NULL;
}

bool protocol_error_transient(protocol_error code)
{
    return (unsigned)code < PROTOCOL_N_CODES && codes[code].transient;
}

bool protocol_error_parse(const char *name, protocol_error *out)
{
    for (unsigned i = 0; name && i < PROTOCOL_N_CODES; i++) {
        if (strcmp(codes[i].name, name) == 0) {
            *out = (protocol_error)i;
            return true;
        }
    }
    return false;
}
