/* temporary until the hm branch lands */
#include "proxy/pending.h"
#include "health/health.h"
__attribute__((weak)) int rw_health_add_upstream_ex(struct rw_health *h, uint32_t index, const char *name, struct rw_pool *pool, const struct rw_hc_params *active, const struct rw_passive_params *passive, int32_t inherit_from)
{ (void)inherit_from; return rw_health_add_upstream(h, index, name, pool, active, passive); }
__attribute__((weak)) void rw_health_remove_upstream(struct rw_health *h, uint32_t index) { (void)h; (void)index; }
__attribute__((weak)) void rw_metric_series_hide(struct rw_metric *m, uint32_t idx, bool hidden) { (void)m; (void)idx; (void)hidden; }
