/*
 * mqtt.h - the MQTT codec: pure functions over caller-owned buffers.
 *
 * Nothing here does I/O, allocates memory or keeps state between calls
 * (practice 1 of STYLE.md, after picohttpparser). Decoded structures point
 * into the input buffer: they stay valid only while that buffer does.
 *
 * Versions: MQTT 3.1 (level 3, protocol name "MQIsdp"), 3.1.1 (level 4) and
 * 5.0 (level 5). Decoders and encoders take the connection's protocol level:
 * at level 5 every packet carries its properties (props.h) and the
 * acknowledgements their reason codes; below, those fields are ignored by
 * the encoder and left empty by the decoder.
 *
 * Return convention (libuv's): 0 or a positive count means success, a
 * negative MQTT_ERR_* is an error that mqtt_strerror() explains.
 */
#ifndef AGORA_MQTT_H
#define AGORA_MQTT_H

#include "props.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_LEVEL_31 3
#define MQTT_LEVEL_311 4
#define MQTT_LEVEL_5 5

/* Largest packet the encoding can express: 1 + 4 + 268435455 bytes. */
#define MQTT_MAX_REMAINING 268435455u
#define MQTT_MAX_HEADER 5

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15, /* MQTT 5 only */
};

/* Errors. Each names the spec rule broken so logs can say why. */
enum mqtt_err {
	MQTT_OK = 0,
	MQTT_ERR_NEED_MORE = -1,       /* not an error: wait for more bytes */
	MQTT_ERR_REMAINING_LENGTH = -2, /* varint longer than 4 bytes */
	MQTT_ERR_TOO_LARGE = -3,       /* packet above the caller's limit */
	MQTT_ERR_TYPE = -4,            /* reserved packet type 0 (or 15 before v5) */
	MQTT_ERR_FLAGS = -5,           /* fixed-header flags wrong for the type */
	MQTT_ERR_TRUNCATED = -6,       /* a field runs past the remaining length */
	MQTT_ERR_TRAILING = -7,        /* bytes left over after the last field */
	MQTT_ERR_UTF8 = -8,            /* ill-formed UTF-8 or U+0000 in a string */
	MQTT_ERR_QOS = -9,             /* QoS 3 */
	MQTT_ERR_PROTOCOL_NAME = -10,  /* CONNECT: not "MQTT"/"MQIsdp" */
	MQTT_ERR_CONNECT_FLAGS = -11,  /* CONNECT: reserved bit or will/user flags */
	MQTT_ERR_PACKET_ID = -12,      /* packet identifier 0 where one is needed */
	MQTT_ERR_EMPTY = -13,          /* SUBSCRIBE/UNSUBSCRIBE with no filter */
	MQTT_ERR_SUB_OPTIONS = -14,    /* reserved bits set in subscription options */
	MQTT_ERR_TOPIC = -15,          /* PUBLISH topic empty or with wildcards */
	MQTT_ERR_UNSUPPORTED = -16,    /* protocol level this codec cannot decode */
	MQTT_ERR_NOSPACE = -17,        /* encoder: caller's buffer too small */
	MQTT_ERR_INVALID = -18,        /* encoder: a field out of range */
	MQTT_ERR_PROP_UNKNOWN = -19,   /* MQTT 5: unknown property identifier (malformed) */
	MQTT_ERR_PROP_DUPLICATE = -20, /* MQTT 5: property given twice (protocol error) */
	MQTT_ERR_PROP_PLACE = -21,     /* MQTT 5: property not allowed in this packet */
	MQTT_ERR_PROP_VALUE = -22,     /* MQTT 5: property value out of range */
	MQTT_ERR_REASON = -23,         /* MQTT 5: reason code not allowed in this packet */
	MQTT_ERR_RETAIN_HANDLING = -24, /* MQTT 5: retain handling 3 (protocol error) */
	MQTT_ERR_UTF8_CHARS = -25,     /* strict decoding: control character or non-character */
};

/* True for errors MQTT 5 calls Protocol Errors (reason 0x82) rather than
 * Malformed Packets (0x81). */
bool mqtt_err_is_protocol_error(int err);

const char *mqtt_strerror(int err);
const char *mqtt_type_name(int type);

/* A length-delimited string or binary field; points into the input. */
struct mqtt_str {
	const uint8_t *data;
	uint16_t len;
};

/* The fixed header: first byte and remaining length. */
struct mqtt_header {
	uint8_t type;      /* enum mqtt_type */
	uint8_t flags;     /* low nibble of the first byte */
	uint32_t remaining;
	uint8_t header_len; /* 2..5 */
};

/*
 * Parse the fixed header at buf. Returns the total packet size
 * (header_len + remaining) and fills *h, MQTT_ERR_NEED_MORE when the header
 * itself is incomplete, MQTT_ERR_REMAINING_LENGTH for a fifth length byte, or
 * MQTT_ERR_TOO_LARGE when the total exceeds max_packet (0 = no limit beyond
 * the protocol's). Lets the caller refuse an oversized packet as soon as its
 * first bytes arrive, without buffering the body.
 */
long mqtt_frame(const uint8_t *buf, size_t len, uint32_t max_packet, struct mqtt_header *h);

/* Variable byte integer: returns bytes used or MQTT_ERR_NEED_MORE /
 * MQTT_ERR_REMAINING_LENGTH. */
int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value);
/* Writes 1..4 bytes; returns the count. out needs 4 bytes. value must be
 * <= MQTT_MAX_REMAINING. */
int mqtt_varint_encode(uint32_t value, uint8_t *out);
int mqtt_varint_size(uint32_t value);

struct mqtt_connect {
	struct mqtt_str protocol_name;
	uint8_t level;
	bool clean_session;
	uint16_t keepalive;
	struct mqtt_str client_id;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	struct mqtt_str will_topic;
	struct mqtt_str will_payload;
	bool has_username;
	struct mqtt_str username;
	bool has_password;
	struct mqtt_str password;
	struct mqtt_props props;      /* level 5 */
	struct mqtt_props will_props; /* level 5, when will is set */
	/* After a decoding error: the string field at fault (MQTT_FIELD_*),
	 * 0 when it was something else. Lets a server answer with that
	 * field's own CONNACK code. */
	uint8_t bad_field;
};

#define MQTT_FIELD_CLIENT_ID 1
#define MQTT_FIELD_USERNAME 2
#define MQTT_FIELD_WILL_TOPIC 3

struct mqtt_connack {
	bool session_present;
	uint8_t return_code; /* enum mqtt_connack_rc; an MQTT 5 reason code at level 5 */
	struct mqtt_props props;
};

enum mqtt_connack_rc {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_BAD_VERSION = 1,
	MQTT_CONNACK_ID_REJECTED = 2,
	MQTT_CONNACK_UNAVAILABLE = 3,
	MQTT_CONNACK_BAD_CREDENTIALS = 4,
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

struct mqtt_publish {
	bool dup;
	uint8_t qos;
	bool retain;
	struct mqtt_str topic;
	uint16_t packet_id; /* 0 at QoS 0 */
	const uint8_t *payload;
	uint32_t payload_len;
	struct mqtt_props props; /* level 5; the topic may then be empty with a topic alias */
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a packet identifier; at level 5
 * also a reason code (PUBACK..PUBCOMP) or a list of them (UNSUBACK, in
 * codes/count), and properties. */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t reason_code;
	const uint8_t *codes;
	uint16_t count;
	struct mqtt_props props;
};

/* DISCONNECT and AUTH at level 5: a reason code and properties (an empty
 * body means reason 0). Below level 5 DISCONNECT has no body. */
struct mqtt_reason {
	uint8_t reason_code;
	struct mqtt_props props;
};

/*
 * SUBSCRIBE and UNSUBSCRIBE carry a list; the decoder validates every entry
 * and records the span, which mqtt_topic_list_next() walks. No allocation.
 */
struct mqtt_topic_list {
	const uint8_t *data;
	uint32_t len;
	uint16_t count;
	bool with_options; /* SUBSCRIBE: each filter followed by an options byte */
};

/* MQTT 5 subscription options byte [MQTT 5.0, 3.8.3.1]. */
#define MQTT_SUBOPT_QOS(o) ((o) & 0x03)
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RETAIN_AS_PUBLISHED 0x08
#define MQTT_SUBOPT_RETAIN_HANDLING(o) (((o) >> 4) & 0x03)

struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_topic_list filters;
	struct mqtt_props props;
};

struct mqtt_unsubscribe {
	uint16_t packet_id;
	struct mqtt_topic_list filters;
	struct mqtt_props props;
};

#define MQTT_SUBACK_FAILURE 0x80

struct mqtt_suback {
	uint16_t packet_id;
	const uint8_t *codes; /* one return code per filter */
	uint16_t count;
	struct mqtt_props props;
};

/* A cursor over a mqtt_topic_list. */
struct mqtt_topic_iter {
	const struct mqtt_topic_list *list;
	uint32_t pos;
};

/* Yields the next filter (and its requested QoS for SUBSCRIBE; 0 otherwise).
 * Returns false at the end. Only call on a list the decoder accepted. */
bool mqtt_topic_list_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *qos);
/* The same, yielding SUBSCRIBE's whole options byte (MQTT_SUBOPT_*). */
bool mqtt_topic_list_next_opts(struct mqtt_topic_iter *it, struct mqtt_str *filter,
			       uint8_t *options);

/* Any decoded packet. `type` selects the member; PINGREQ and PINGRESP have
 * no body, nor does DISCONNECT before MQTT 5. */
struct mqtt_packet {
	uint8_t type;
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;
		struct mqtt_subscribe subscribe;
		struct mqtt_unsubscribe unsubscribe;
		struct mqtt_suback suback;
		struct mqtt_reason reason; /* DISCONNECT, AUTH */
	} u;
};

/* Who sent the packets being decoded: some reason codes belong to one side
 * only [MQTT 5.0, 3.14.2.1, 3.15.2.1]. */
enum mqtt_sender {
	MQTT_SENDER_ANY = 0, /* accept what either side may send */
	MQTT_SENDER_CLIENT,
	MQTT_SENDER_SERVER,
};

/* How to decode: the connection's state and the receiver's choices among
 * what the standard allows. Zero-initialised means level 0, no size limit
 * beyond the protocol's, lenient strings, either sender. */
struct mqtt_decode_opts {
	uint8_t level;       /* negotiated protocol level, 0 before CONNECT */
	uint8_t sender;      /* enum mqtt_sender */
	bool strict_utf8;    /* also refuse control characters and non-characters
			      * (MQTT_UTF8_DISCOURAGED) in client identifiers, user
			      * names, will topics, topic names and filters: the
			      * standard lets a receiver treat them as malformed
			      * [MQTT 5.0, 1.5.4] */
	uint32_t max_packet; /* bytes, whole packet; 0 = the protocol's limit */
};

/*
 * Decode one packet from buf. `o->level` is the connection's negotiated
 * protocol level (0 before CONNECT: then only CONNECT decodes fully, any
 * other type still decodes so the caller can report "first packet must be
 * CONNECT"). Returns the number of bytes the packet occupies (> 0),
 * MQTT_ERR_NEED_MORE, or a negative error; after an error, *out holds the
 * fields decoded so far (and for CONNECT, connect.bad_field). Strings are
 * checked as the spec requires (well-formed UTF-8, no U+0000) and, with
 * strict_utf8, for discouraged code points; topic names and filters get
 * their wildcard rules checked by the broker through mqtt_topic_* since
 * refusing a filter is a SUBACK code, not a malformed packet.
 */
long mqtt_decode_with(const uint8_t *buf, size_t len, const struct mqtt_decode_opts *o,
		      struct mqtt_packet *out);
/* mqtt_decode_with() with lenient strings and either sender. */
long mqtt_decode(const uint8_t *buf, size_t len, uint8_t level, uint32_t max_packet,
		 struct mqtt_packet *out);

/*
 * For CONNECT only: read the protocol name and level without decoding the
 * rest, so a broker can answer an unsupported level with CONNACK 0x01 even
 * when the remainder is in a format it does not know. Returns 0 and sets
 * *level, MQTT_ERR_PROTOCOL_NAME or MQTT_ERR_TRUNCATED.
 */
int mqtt_connect_peek_level(const uint8_t *body, size_t len, uint8_t *level);

/*
 * Encoders: write the packet into out[0..cap). Return the bytes written, or
 * MQTT_ERR_NOSPACE (nothing useful written) / MQTT_ERR_INVALID.
 * mqtt_encoded_size() gives the exact size first, so a caller can reserve.
 */
long mqtt_encode(const struct mqtt_packet *p, uint8_t level, uint8_t *out, size_t cap);
long mqtt_encoded_size(const struct mqtt_packet *p, uint8_t level);

/*
 * PUBLISH without its payload: fixed header, topic and packet id. Used to
 * send one shared payload to many subscribers with a per-subscriber header.
 * p->payload is ignored but p->payload_len counts in the remaining length.
 */
long mqtt_encode_publish_header(const struct mqtt_publish *p, uint8_t level, uint8_t *out,
				size_t cap);

/* Topic names and filters (MQTT 3.1.1 section 4.7). */
#define MQTT_TOPIC_MAX 65535

/* What mqtt_utf8_scan() found in a string [MQTT 5.0, 1.5.4]. */
#define MQTT_UTF8_ILL_FORMED 0x01 /* not well-formed UTF-8 (RFC 3629): surrogates,
				   * overlong forms, above U+10FFFF, truncated */
#define MQTT_UTF8_NUL 0x02        /* U+0000 */
#define MQTT_UTF8_CONTROL 0x04    /* U+0001..U+001F, U+007F..U+009F */
#define MQTT_UTF8_NONCHAR 0x08    /* U+FDD0..U+FDEF, U+nFFFE and U+nFFFF */
/* Not a UTF-8 class: '+' or '#' seen, which a topic name may not hold
 * [MQTT-3.3.2-2]; reported by the same pass, so a topic is read once. */
#define MQTT_UTF8_WILDCARD 0x10
/* What a receiver must refuse [MQTT-1.5.4-1], [MQTT-1.5.4-2]. */
#define MQTT_UTF8_REFUSED (MQTT_UTF8_ILL_FORMED | MQTT_UTF8_NUL)
/* What the standard discourages and lets a receiver refuse. */
#define MQTT_UTF8_DISCOURAGED (MQTT_UTF8_CONTROL | MQTT_UTF8_NONCHAR)

/* The MQTT_UTF8_* classes found in s (0: a clean string). The scan stops
 * at the first ill-formed sequence. */
unsigned mqtt_utf8_scan(const uint8_t *s, size_t len);
/* Well-formed UTF-8 without U+0000 and without surrogates (MQTT strings). */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);
/* Well-formed UTF-8, U+0000 allowed: a payload whose Payload Format
 * Indicator is 1 [MQTT 5.0, 3.3.2.3.2]. */
bool mqtt_utf8_data_valid(const uint8_t *s, size_t len);
/* A topic name a PUBLISH may carry: non-empty, valid UTF-8, no + or #. */
bool mqtt_topic_name_valid(const uint8_t *s, size_t len);
/* A topic filter: non-empty, valid UTF-8, '+' alone in its level, '#' alone
 * and last. */
bool mqtt_topic_filter_valid(const uint8_t *s, size_t len);
/* Does the filter match the topic name? Both must be valid. Filters starting
 * with a wildcard do not match topics starting with '$'. */
bool mqtt_topic_match(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

#endif
