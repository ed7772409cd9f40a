/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the config loader on arbitrary bytes; everything is freed. */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rw_cfg_errs errs = {0};
    struct rw_cfg *cfg = NULL;
    int rc = rw_cfg_load_buf((const char *)data, size, "fuzz.json", &cfg, &errs);

    /* The contract: success means a config and no errors; failure means errors and none. */
    if ((rc == 0) != (cfg != NULL) || (rc == 0) != (errs.n == 0))
        __builtin_trap();
    rw_cfg_free(cfg);
    rw_cfg_errs_clear(&errs);
    return 0;
}
