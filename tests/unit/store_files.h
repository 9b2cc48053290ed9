/*
 * store_files.h - a fresh directory for the store's file tests (test_store.c,
 * test_store_polls.c): setup_tmp makes it, teardown_tmp removes what the
 * store writes there, then the directory, which must then be empty (a file
 * the store left behind fails the test); open_file opens a store in it or
 * fails the test. Include after cmocka.h and store/store.h.
 */
#ifndef AGORA_TEST_STORE_FILES_H
#define AGORA_TEST_STORE_FILES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tmp {
	char dir[64];
	char db[128];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/agora-test-store-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->db, sizeof(t->db), "%s/agora.db", t->dir);
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	static const char *const files[] = { "agora.db", "agora.db-wal", "agora.db-shm",
					     "agora.db-journal", "garbage.db" };
	struct tmp *t = *state;
	char path[160];
	int ret;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", t->dir, files[i]);
		unlink(path);
	}
	ret = rmdir(t->dir);
	if (ret)
		fprintf(stderr, "could not remove %s: %s\n", t->dir, strerror(errno));
	free(t);
	return ret;
}

static struct store *open_file(const char *path, enum store_sync sync)
{
	struct store *st = NULL;
	char err[512] = "";
	int ret = store_open(path, sync, &st, err, sizeof(err));

	if (ret)
		fail_msg("store_open(%s): %s: %s", path, store_strerror(ret), err);
	assert_non_null(st);
	return st;
}

#endif
