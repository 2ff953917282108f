/* messages.h - jen1-write's --messages FILE.json: a JSON array of
 * {"role": ..., "content": ...} objects, as a chat for jen1_text_chat_render. */
#ifndef JEN1_WRITE_MESSAGES_H
#define JEN1_WRITE_MESSAGES_H

#include <stddef.h>

#include "jen1_text.h"

typedef struct chat_file {
    void *doc;                      /* the parsed JSON the strings point into */
    jen1_chat_message *messages;
    int n_messages;
} chat_file;

/* Reads and checks the file: an array of at least one object, each with a
 * "role" of system/user/assistant and a string "content". Returns 0, or -1
 * with a message naming the file and the element at fault. */
int chat_file_read(const char *path, chat_file *out, char *err, size_t errlen);
void chat_file_free(chat_file *c);

#endif
