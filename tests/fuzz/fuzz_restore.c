/*
 * fuzz_restore.c - libFuzzer target for the broker's journal records
 * (broker.h "Durable state", src/broker/journal.h), as a restart meets
 * them: whatever the log's batches hold, broker_restore applies or refuses
 * them without reading past them (ASan), and the broker it built works:
 * finishing the restore, a snapshot of it and a restore of that snapshot
 * into a second broker all succeed, and the second broker's snapshot is
 * the same size (the state survives its own round trip).
 */
#include "broker/broker.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bytes {
	uint8_t *data;
	size_t len;
};

static int gather(void *ctx, const uint8_t *rec, size_t len)
{
	struct bytes *b = ctx;

	b->data = realloc(b->data, b->len + len);
	if (!b->data)
		abort();
	memcpy(b->data + b->len, rec, len);
	b->len += len;
	return 0;
}

static struct broker *fresh(void)
{
	struct broker_config cfg;
	struct broker *b;

	broker_config_defaults(&cfg);
	b = broker_new(&cfg);
	broker_set_time(b, 1000000);
	broker_set_wall_clock(b, 1796515200000ull);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker *a = fresh(), *b = fresh();
	struct broker_restore_stats st;
	struct bytes snap = { 0 }, again = { 0 };

	broker_restore(a, data, size); /* may refuse: what came before stays */
	broker_restore_done(a, &st);
	if (broker_snapshot(a, 256, gather, &snap))
		abort();
	if (snap.len && broker_restore(b, snap.data, snap.len))
		abort(); /* a snapshot always restores */
	broker_restore_done(b, &st);
	if (broker_snapshot(b, 256, gather, &again) || again.len != snap.len)
		abort();
	free(snap.data);
	free(again.data);
	broker_free(a);
	broker_free(b);
	return 0;
}
