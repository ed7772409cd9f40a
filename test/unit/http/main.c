/* SPDX-License-Identifier: MIT */
/* unit.http runner: every http/ test group. */
#include "test/unit/http/test_http.h"

int main(void)
{
    int failed = 0;
    failed += rw_test_h1_common();
    failed += rw_test_h1_fields();
    failed += rw_test_h1_req();
    failed += rw_test_h1_resp();
    failed += rw_test_chunked();
    return failed ? 1 : 0;
}
