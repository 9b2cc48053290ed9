/*
 * fuzz_client.c - libFuzzer target for the client side: what a server
 * sends, as the client layer (src/client/) takes it, and what `agora sub`
 * prints of it.
 *
 * The first byte chooses the protocol level and the size of the pieces the
 * rest arrives in, as the server's bytes on a connection waiting for its
 * CONNACK (so unfinished packets are kept and completed). Once connected
 * the client publishes at QoS 1 and 2 and subscribes, so acknowledgements
 * of ids it knows are reachable. Every message delivered is rendered by an
 * -F format using every field and by --json. Checked: no read outside the
 * input and no leak (ASan), and everything the client queued in answer
 * decodes with the codec, packet after packet, to the last byte.
 */
#include "client/client.h"
#include "client/internal.h"
#include "client/shell.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char format[] = "%t%p%q%r%l%m%A%C%D%E%F%P%R%S%x%X%j%J%I%U@Y@N%-5.2t%08l\\n\\0";

static void on_connack(struct client_conn *c, const struct mqtt_connack *a)
{
	static const struct client_filter f[] = { { "a/#", 2 } };
	struct mqtt_publish p = { 0 };

	if (a->return_code)
		return;
	p.topic.data = (const uint8_t *)"t";
	p.topic.len = 1;
	for (uint8_t qos = 1; qos <= 2; qos++) {
		p.qos = qos;
		client_publish(c, &p);
	}
	client_subscribe(c, f, 1, NULL);
}

static void on_message(struct client_conn *c, const struct mqtt_publish *p, bool again)
{
	struct client_msg m = { p, { 1700000000, 5 } };
	struct client_buf out = { 0 };
	char err[200];

	(void)c, (void)again;
	client_format(&out, format, &m, err, sizeof(err));
	client_format_json(&out, &m, false);
	client_buf_release(&out);
}

static void on_closed(struct client_conn *c, int err)
{
	(void)c, (void)err;
}

static const struct client_cbs cbs = {
	.connack = on_connack,
	.message = on_message,
	.closed = on_closed,
};

/* Everything queued decodes, to the last byte. */
static void check_output(const struct client_conn *c)
{
	size_t pos = 0;

	while (pos < c->wlen) {
		struct mqtt_packet p;
		long n = mqtt_decode(c->wbuf + pos, c->wlen - pos, c->level, 0, &p);
		if (n <= 0)
			abort();
		pos += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t levels[] = { MQTT_LEVEL_31, MQTT_LEVEL_311, MQTT_LEVEL_5 };
	static uv_loop_t uv;
	static struct client_loop loop;
	static bool ready;
	struct client_opts o = { 0 };
	struct client_conn c;
	size_t piece;

	if (!ready) {
		uv_loop_init(&uv);
		client_loop_init(&loop, &uv);
		ready = true;
	}
	if (size < 1)
		return 0;
	o.connect.level = levels[data[0] % 3];
	o.max_packet = 1 << 16;
	mqtt_props_clear(&o.connect.props);
	mqtt_props_clear(&o.connect.will_props);
	piece = (size_t)(data[0] >> 2) + 1;
	client_conn_init(&c, &loop, &o, &cbs);
	c.state = CLIENT_WAIT_CONNACK; /* as after the TCP connect */
	data++;
	size--;
	while (size && c.state < CLIENT_DISCONNECTING) {
		size_t n = size < piece ? size : piece;
		client__input(&c, data, n);
		data += n;
		size -= n;
	}
	check_output(&c);
	/* no socket, no loop run: take it off the loop's lists by hand */
	c.state = CLIENT_CLOSED;
	client__update_timed(&c);
	loop.dirty = NULL;
	client__release(&c);
	return 0;
}
