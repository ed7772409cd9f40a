/* SPDX-License-Identifier: MIT */
/* Module-internal RCU helpers shared by core/ files. */
#ifndef RW_CORE_RCU_INT_H
#define RW_CORE_RCU_INT_H

#include <stdbool.h>

/* True if the calling thread called rw_rcu_register() (and not unregister). */
bool rw__rcu_registered(void);

#endif
