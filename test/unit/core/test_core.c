/* SPDX-License-Identifier: MIT */
/* Runner for the core/ unit tests (CTest: unit.core). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "test/unit/core/tests.h"

int main(void)
{
    int failed = 0;

    failed += rw_test_timer();
    failed += rw_test_buf();
    failed += rw_test_slab();
    failed += rw_test_log();
    failed += rw_test_io_conformance();
    failed += rw_test_io_recv();
    failed += rw_test_io_keep();
    failed += rw_test_io_files();
    failed += rw_test_io_coalesce();
    return failed ? 1 : 0;
}
