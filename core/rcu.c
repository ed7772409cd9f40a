/* SPDX-License-Identifier: MIT */
/* The project's RCU wrapper over liburcu QSBR; the only file including urcu-qsbr.h. */
#include "core/rcu.h"

#include <stdbool.h>

#include <urcu-qsbr.h>

#include "core/rcu-int.h"

static __thread bool rcu_registered;

void rw_rcu_register(void)
{
    rcu_register_thread();
    rcu_registered = true;
}

void rw_rcu_unregister(void)
{
    rcu_unregister_thread();
    rcu_registered = false;
}

bool rw__rcu_registered(void)
{
    return rcu_registered;
}

void rw_rcu_quiescent(void)
{
    rcu_quiescent_state();
}

void rw_rcu_offline(void)
{
    rcu_thread_offline();
}

void rw_rcu_online(void)
{
    rcu_thread_online();
}

void rw_rcu_synchronize(void)
{
    synchronize_rcu();
}

void *rw_rcu_load(void *const *pp)
{
    return rcu_dereference(*(void **)pp);
}

void rw_rcu_store(void **pp, void *v)
{
    rcu_assign_pointer(*pp, v);
}
