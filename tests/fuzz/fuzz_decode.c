/*
 * fuzz_decode.c - libFuzzer target for the MQTT codec.
 *
 * Decodes the input at every protocol level; never reads outside the input
 * (ASan). Below MQTT 5 whatever decodes encodes again to the same bytes; at
 * level 5 (where properties are re-encoded in identifier order) the encoding
 * must decode again. Property blocks are walked with mqtt_props_next.
 * Strict decoding (strict_utf8, a client as the sender) only ever refuses
 * more: what it accepts, lenient decoding accepts with the same size.
 */
#include "mqtt/mqtt.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t levels[] = { 0, MQTT_LEVEL_31, MQTT_LEVEL_311, MQTT_LEVEL_5 };

	for (size_t i = 0; i < sizeof(levels); i++) {
		struct mqtt_decode_opts strict = { .level = levels[i], .sender = MQTT_SENDER_CLIENT,
						   .strict_utf8 = true, .max_packet = 1 << 20 };
		struct mqtt_packet p;
		long s = mqtt_decode_with(data, size, &strict, &p);
		long n = mqtt_decode(data, size, levels[i], 1 << 20, &p);
		uint8_t out[4096];
		long m;

		if (s > 0 && s != n)
			abort(); /* strict accepted what lenient refused */

		if (n <= 0 || p.type == MQTT_CONNECT || p.type == MQTT_CONNACK)
			continue;
		m = mqtt_encode(&p, levels[i], out, sizeof(out));
		if (levels[i] == MQTT_LEVEL_5) {
			struct mqtt_packet again;
			if (p.type == MQTT_PUBLISH) {
				struct mqtt_prop prop;
				uint32_t pos = 0;
				while (mqtt_props_next(&p.u.publish.props, &pos, &prop))
					;
				if (pos != p.u.publish.props.raw_len)
					abort(); /* a validated block walks to its end */
			}
			/* User properties are not carried by the decoded struct
			 * (encode takes them pre-encoded), so only check that
			 * what encodes decodes. */
			if (m > 0 && mqtt_decode(out, (size_t)m, levels[i], 0, &again) != m)
				abort();
			continue;
		}
		/* Re-encoding a decoded packet reproduces it byte for byte,
		 * except that the remaining length may have been over-long. */
		if (m > 0 && m == n && memcmp(out, data, (size_t)n) != 0)
			abort();
		if (p.type == MQTT_SUBSCRIBE || p.type == MQTT_UNSUBSCRIBE) {
			const struct mqtt_topic_list *l = p.type == MQTT_SUBSCRIBE
								  ? &p.u.subscribe.filters
								  : &p.u.unsubscribe.filters;
			struct mqtt_topic_iter it = { l, 0 };
			struct mqtt_str f;
			uint8_t qos;
			unsigned count = 0;
			while (mqtt_topic_list_next(&it, &f, &qos)) {
				mqtt_topic_filter_valid(f.data, f.len);
				count++;
			}
			if (count != l->count)
				abort();
		}
	}
	return 0;
}
