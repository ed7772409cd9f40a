/* temporary until the hm branch lands */
#include <stdbool.h>
#include <stdint.h>
struct rw_health; struct rw_pool; struct rw_hc_params; struct rw_passive_params; struct rw_metric;
int rw_health_add_upstream_ex(struct rw_health *h, uint32_t index, const char *name, struct rw_pool *pool, const struct rw_hc_params *active, const struct rw_passive_params *passive, int32_t inherit_from);
void rw_health_remove_upstream(struct rw_health *h, uint32_t index);
void rw_metric_series_hide(struct rw_metric *m, uint32_t idx, bool hidden);
