/* SPDX-License-Identifier: MIT */
/* Groups of the core/ unit test runner; each returns its number of failures. */
#ifndef RW_TEST_UNIT_CORE_TESTS_H
#define RW_TEST_UNIT_CORE_TESTS_H

int rw_test_timer(void);
int rw_test_buf(void);
int rw_test_slab(void);
int rw_test_log(void);
int rw_test_io_conformance(void);
int rw_test_io_recv(void);
int rw_test_io_keep(void);
int rw_test_io_files(void);
int rw_test_io_coalesce(void);

#endif
