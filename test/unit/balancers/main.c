/* SPDX-License-Identifier: MIT */
/* test_balancers: runs every balancers/ test group. */
#include "tests.h"

int main(void)
{
    int failed = 0;
    failed += test_lb_run();
    failed += test_pool_run();
    failed += test_rr_run();
    return failed ? 1 : 0;
}
