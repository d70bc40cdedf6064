/*
 * test_free_null.c - the house rule that every *_free and *_close
 * accepts NULL, so that cleanup paths (`goto out`) never need a check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "autoscale/metrics.h"
#include "autoscale/web.h"
#include "base/buf.h"
#include "engine/bigkeys.h"
#include "engine/journal.h"
#include "io/conn.h"
#include "model/checks.h"
#include "model/cluster.h"
#include "model/plan.h"
#include "model/planner.h"
#include "model/topology.h"
#include "ops/backup.h"
#include "ops/create.h"
#include "ops/preflight.h"
#include "ops/rebalance.h"
#include "traffic/traffic.h"

static void test_every_free_and_close_accepts_null(void **state)
{
	(void)state;
	sp_metrics_free(NULL);
	sp_as_shared_free(NULL);
	sp_buf_free(NULL);
	sp_big_keys_free(NULL);
	sp_journal_rec_free(NULL);
	sp_journal_close(NULL);
	sp_conn_close(NULL);
	sp_findings_free(NULL);
	sp_cluster_free(NULL);
	sp_opplan_free(NULL);
	sp_plan_free(NULL);
	sp_view_free(NULL);
	sp_backup_result_free(NULL);
	sp_verify_result_free(NULL);
	sp_create_plan_free(NULL);
	sp_preflight_report_free(NULL);
	sp_plan_file_free(NULL);
	sp_traffic_free(NULL);
	/* The test fails by crashing (SIGSEGV, or ASan in make test). */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_free_and_close_accepts_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
