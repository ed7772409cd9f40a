/* SPDX-License-Identifier: MIT */
/* unit.http: one group per source file; main.c runs them all. */
#ifndef RW_TEST_UNIT_HTTP_H
#define RW_TEST_UNIT_HTTP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Each returns the number of failed tests of its group. */
int rw_test_h1_common(void);
int rw_test_h1_fields(void);
int rw_test_h1_req(void);
int rw_test_h1_resp(void);
int rw_test_chunked(void);

#endif
