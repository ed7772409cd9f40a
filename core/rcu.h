/* SPDX-License-Identifier: MIT */
/* The project's one RCU mechanism: thin wrappers over liburcu's QSBR flavour. */
#ifndef RW_CORE_RCU_H
#define RW_CORE_RCU_H

/* Every thread that reads published snapshots registers once and unregisters at exit. */
void rw_rcu_register(void);
void rw_rcu_unregister(void);
/* Reader thread: "I hold no snapshot pointer now" (once per loop turn). */
void rw_rcu_quiescent(void);
/* Around blocking waits, so an idle reader never stalls a grace period. */
void rw_rcu_offline(void);
void rw_rcu_online(void);
/* Writer: wait until every registered reader has passed a quiescent point. Must not
 * be called by a registered online thread. */
void rw_rcu_synchronize(void);
/* Publish / read a pointer with the right barriers. */
void *rw_rcu_load(void *const *pp);
void rw_rcu_store(void **pp, void *v);

#endif
