/* SPDX-License-Identifier: MIT */
/* test_balancers: runs every balancers/ test group. */
#include "tests.h"

int main(void)
{
    int failed = 0;
    failed += test_lb_run();
    failed += test_pool_run();
    failed += test_wtab_run();
    failed += test_rr_run();
    failed += test_lc_run();
    failed += test_random_run();
    failed += test_p2c_run();
    failed += test_chash_run();
    failed += test_maglev_run();
    failed += test_ring_run();
    failed += test_first_run();
#ifdef RW_TEST_STICKY
    failed += test_sticky_run();
#endif
    return failed ? 1 : 0;
}
