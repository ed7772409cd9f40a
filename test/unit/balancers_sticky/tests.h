/* SPDX-License-Identifier: MIT */
/* Shared declarations for the sticky unit tests. */
#ifndef RW_TEST_BALANCERS_STICKY_TESTS_H
#define RW_TEST_BALANCERS_STICKY_TESTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* One cmocka group per source file; main.c runs them all. */
int test_sticky_token_run(void);
int test_sticky_table_run(void);

#endif
