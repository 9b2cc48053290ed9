/*
 * fuzz_broker.c - libFuzzer target for the broker core.
 *
 * The input is split into three clients' byte streams (the first two bytes
 * pick the split points); each starts with a valid CONNECT so the fuzzer
 * reaches the packet handlers: two 3.1.1 clients with one id (a takeover),
 * one MQTT 5 client. Checks: no crash, no leak, no UB (sanitizers).
 */
#include "base/log.h"
#include "broker/broker.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t connect_pkt[] = {
	0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x3c, 0x00, 0x02, 'c', '0',
};

/* MQTT 5, session expiry 60 and topic alias maximum 4, so the fuzzer reaches
 * properties, aliases and expiry. */
static const uint8_t connect5_pkt[] = {
	0x10, 0x17, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x3c,
	0x08, 0x11, 0x00, 0x00, 0x00, 0x3c, 0x22, 0x00, 0x04,
	0x00, 0x02, 'c', '2',
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker_config cfg;
	struct broker *b;
	struct broker_client *c[3];
	size_t cut1, cut2;

	if (size < 2)
		return 0;
	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	cfg.max_inflight = 2;
	cfg.max_queued = 4;
	cfg.max_packet_size = 4096;
	b = broker_new(&cfg);
	broker_set_time(b, 1000);
	cut1 = (size - 2) * (data[0] & 0x0F) / 15;
	cut2 = cut1 + (size - 2 - cut1) * (data[1] >> 4) / 15;
	data += 2;
	size -= 2;
	for (int i = 0; i < 2; i++) {
		uint8_t hello[sizeof(connect_pkt)];
		memcpy(hello, connect_pkt, sizeof(hello));
		c[i] = broker_client_new(b, NULL, "fuzz", true);
		broker_client_input(b, c[i], hello, sizeof(hello)); /* same id: takeover */
	}
	c[2] = broker_client_new(b, NULL, "fuzz", true);
	broker_client_input(b, c[2], connect5_pkt, sizeof(connect5_pkt));
	if (c[2]->state != CLIENT_CONNECTED || c[1]->state != CLIENT_CONNECTED)
		abort(); /* the seeds themselves must be valid */
	broker_client_input(b, c[0], data, cut1);
	broker_client_input(b, c[1], data + cut1, cut2 - cut1);
	broker_set_time(b, 100000);
	broker_tick(b);
	broker_client_input(b, c[2], data + cut2, size - cut2);
	broker_publish_sys(b);
	while (broker_pop_dirty(b))
		;
	for (int i = 0; i < 3; i++)
		broker_client_free(b, c[i]);
	broker_free(b);
	return 0;
}
