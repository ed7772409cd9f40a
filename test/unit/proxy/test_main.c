/* SPDX-License-Identifier: MIT */
/* Runner for proxy/'s unit tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

int test_body_run(void);
int test_head_run(void);
int test_route_run(void);

int main(void)
{
    int failed = 0;
    failed += test_body_run();
    failed += test_head_run();
    failed += test_route_run();
    return failed ? 1 : 0;
}
