/*
 * ketend --backup DIR: the copy (store_backup), then the copy verified by
 * the same audit as `keten audit verify`, and its head printed. Must never
 * touch the live data directory but to read it, nor report a copy that
 * does not verify as a backup.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "audit.h"
#include "backup.h"
#include "config.h"
#include "store.h"
#include "text.h"

int
backup_run(const char *dest, const char *config_path)
{
	struct config *c;
	struct audit_result res;
	struct keten_error err;
	char path[PATH_MAX], hex[65], when[32];
	struct tm tm;
	time_t t;
	int rc;

	if (config_load(&c, config_path, &err) != KETEN_OK) {
		fprintf(stderr, "ketend: %s\n", err.message);
		return 1;
	}
	if (store_backup(c->data_dir, dest, &err) != KETEN_OK) {
		fprintf(stderr, "ketend: backup: %s\n", err.message);
		config_destroy(&c);
		return 1;
	}
	if (realpath(dest, path) == NULL)
		snprintf(path, sizeof(path), "%s", dest);
	rc = audit_verify_dir(&res, c, dest, &err);
	if (rc != KETEN_OK) {
		fprintf(stderr,
		        "ketend: backup: the copy in %s does not verify: %s; "
		        "it is not a backup (kept for inspection)\n",
		        path, err.message);
		audit_result_free(&res);
		config_destroy(&c);
		return 1;
	}
	text_hex(hex, res.head_hash, 32);
	printf("backup %s\nof %s\nverified: %" PRIu64 " records, %zu cases "
	       "(the audit of keten audit verify)\nhead %" PRIu64 " %s\n",
	       path, c->data_dir, res.records, res.n_cases, res.head_seq, hex);
	if (res.has_cp) {
		t = (time_t)(res.cp.signed_at_us / 1000000);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		text_hex(hex, res.cp.root, 32);
		printf("checkpoint %" PRIu64 " %s signed %s\n", res.cp.size,
		       hex, when);
	} else {
		puts("checkpoint none");
	}
	audit_result_free(&res);
	config_destroy(&c);
	return 0;
}
