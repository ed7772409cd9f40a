/* SPDX-License-Identifier: MIT */
/* test_sticky: runs the sticky token and session table test groups. */
#include "tests.h"

int main(void)
{
    int failed = 0;
    failed += test_sticky_token_run();
    failed += test_sticky_table_run();
    return failed ? 1 : 0;
}
