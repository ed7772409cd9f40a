/* SPDX-License-Identifier: MIT */
/* The seam to balancers/: which "balance" names are valid. */
#include "config/cfg-int.h"

#include <string.h>

#ifdef RW_CONFIG_NO_LB
/* Built without rw_balancers (it had not landed yet): only the default algorithm. */
bool rw__cfg_balance_known(const char *name)
{
    return strcmp(name, "round_robin") == 0;
}

const char *rw__cfg_balance_names(void)
{
    return "round_robin";
}
#else
#include "balancers/lb.h"

bool rw__cfg_balance_known(const char *name)
{
    return rw_lb_find(name) != NULL;
}

const char *rw__cfg_balance_names(void)
{
    return rw_lb_names();
}
#endif
