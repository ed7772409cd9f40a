/* SPDX-License-Identifier: MIT */
/* test_health: runs every health/ test group. */
#include "tests.h"

#include "core/log.h"

int main(void)
{
    rw_log_set_level(RW_LOG_WARN);
    int failed = 0;
    failed += test_state_run();
    failed += test_params_run();
    failed += test_passive_run();
    failed += test_active_run();
    failed += test_thread_run();
    failed += test_ups_run();
    return failed ? 1 : 0;
}
