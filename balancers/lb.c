/* SPDX-License-Identifier: MIT */
/* The explicit registry of balancing algorithms, looked up by config name. */
#include "balancers/lb.h"

#include <pthread.h>
#include <string.h>

#include "balancers/algos.h"

/* One line per algorithm; order is the order rw_lb_names() lists them in. */
static const struct rw_lb_ops *const lb_algos[] = {
    &rw_lb_round_robin,
    NULL,
};

static char lb_names_buf[256];
static pthread_once_t lb_names_once = PTHREAD_ONCE_INIT;

const struct rw_lb_ops *rw_lb_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; lb_algos[i]; i++)
        if (strcmp(lb_algos[i]->name, name) == 0)
            return lb_algos[i];
    return NULL;
}

static void lb_names_build(void)
{
    size_t off = 0;
    for (size_t i = 0; lb_algos[i]; i++) {
        size_t len = strlen(lb_algos[i]->name);
        /* The buffer is sized for every name we ship; truncate rather than overflow. */
        if (off + len + 3 > sizeof(lb_names_buf))
            break;
        if (off) {
            memcpy(lb_names_buf + off, ", ", 2);
            off += 2;
        }
        memcpy(lb_names_buf + off, lb_algos[i]->name, len);
        off += len;
    }
    lb_names_buf[off] = '\0';
}

const char *rw_lb_names(void)
{
    pthread_once(&lb_names_once, lb_names_build);
    return lb_names_buf;
}
