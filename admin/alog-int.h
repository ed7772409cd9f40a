/* SPDX-License-Identifier: MIT */
/* Module-internal: the access-log formatter with its truncation flag. */
#ifndef RW_ADMIN_ALOG_INT_H
#define RW_ADMIN_ALOG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/accesslog.h"

/* rw_accesslog_format(), and *cut = true when a field was shortened to fit. */
size_t rw__accesslog_format(enum rw_accesslog_format fmt, const struct rw_access_rec *rec,
                            char *buf, size_t cap, bool *cut);

#endif
