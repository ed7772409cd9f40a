/* SPDX-License-Identifier: MIT */
/* unit.tls runner: every tls/ test group. */
#include "tests.h"

#include <wolfssl/wolfcrypt/logging.h>

int main(void)
{
    int fails = 0;
    wolfSSL_Init();
    fails += run_hello_tests();
    fails += run_x509_tests();
    fails += run_ctx_tests();
    fails += run_cert_tests();
    fails += run_keys_tests();
    fails += run_peer_tests();
    fails += run_conn_tests();
    fails += run_client_tests();
    rw_tls_thread_cleanup();
    wolfSSL_Cleanup();
    return fails ? 1 : 0;
}
