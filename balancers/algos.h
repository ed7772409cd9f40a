/* SPDX-License-Identifier: MIT */
/* Module-internal: the ops table of every algorithm, listed in lb.c's registry. */
#ifndef RW_BALANCERS_ALGOS_H
#define RW_BALANCERS_ALGOS_H

#include "balancers/lb.h"

/* Smooth weighted round robin (nginx order), "round_robin". rr.c. */
extern const struct rw_lb_ops rw_lb_round_robin;

#endif
