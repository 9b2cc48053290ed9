/*
 * pickle.c - a flat list of integers as Python pickles it (pickle.h): the
 * reader, a state machine over the few opcodes such a pickle holds, and
 * the writer, which gives CPython's bytes.
 */
#include "pickle.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The opcodes of the subset (pickletools' names). */
enum {
	OP_MARK = 0x28,        /* '(' */
	OP_STOP = 0x2e,        /* '.' */
	OP_BININT = 0x4a,      /* 'J': 4 bytes, signed */
	OP_BININT1 = 0x4b,     /* 'K': 1 byte, unsigned */
	OP_BININT2 = 0x4d,     /* 'M': 2 bytes, unsigned */
	OP_EMPTY_LIST = 0x5d,  /* ']' */
	OP_APPEND = 0x61,      /* 'a' */
	OP_APPENDS = 0x65,     /* 'e' */
	OP_BINPUT = 0x71,      /* 'q': 1-byte memo index */
	OP_LONG_BINPUT = 0x72, /* 'r': 4-byte memo index */
	OP_PROTO = 0x80,
	OP_LONG1 = 0x8a,       /* 1-byte length, then two's complement, little-endian */
	OP_LONG4 = 0x8b,       /* 4-byte length, then the same */
	OP_MEMOIZE = 0x94,
	OP_FRAME = 0x95,       /* 8-byte length of the frame that follows */
};

#define FRAME_HEADER 9
#define FRAME_SIZE_MIN 4         /* a smaller last frame goes without its header */
#define FRAME_SIZE_TARGET 65536  /* a frame is closed once it holds this much */
#define BATCH 1000               /* items per MARK ... APPENDS */

/* Where the reader is in pickle.h's grammar. */
enum {
	ST_PROTO,   /* nothing read yet */
	ST_LIST,    /* EMPTY_LIST next */
	ST_MEMO,    /* after EMPTY_LIST: its memo entry may come */
	ST_TOP,     /* the list on top: MARK, an int, or STOP */
	ST_MARK,    /* after MARK: ints, then APPENDS */
	ST_ONE,     /* one int pushed: APPEND */
	ST_DONE,    /* after STOP */
};

static const char *const names[256] = {
	[0x28] = "MARK", [0x2e] = "STOP", [0x30] = "POP", [0x31] = "POP_MARK", [0x32] = "DUP",
	[0x46] = "FLOAT", [0x49] = "INT", [0x4a] = "BININT", [0x4b] = "BININT1", [0x4c] = "LONG",
	[0x4d] = "BININT2", [0x4e] = "NONE", [0x50] = "PERSID", [0x51] = "BINPERSID",
	[0x52] = "REDUCE", [0x53] = "STRING", [0x54] = "BINSTRING", [0x55] = "SHORT_BINSTRING",
	[0x56] = "UNICODE", [0x58] = "BINUNICODE", [0x61] = "APPEND", [0x62] = "BUILD",
	[0x63] = "GLOBAL", [0x64] = "DICT", [0x7d] = "EMPTY_DICT", [0x65] = "APPENDS",
	[0x67] = "GET", [0x68] = "BINGET", [0x69] = "INST", [0x6a] = "LONG_BINGET",
	[0x6c] = "LIST", [0x5d] = "EMPTY_LIST", [0x6f] = "OBJ", [0x70] = "PUT", [0x71] = "BINPUT",
	[0x72] = "LONG_BINPUT", [0x73] = "SETITEM", [0x74] = "TUPLE", [0x29] = "EMPTY_TUPLE",
	[0x75] = "SETITEMS", [0x47] = "BINFLOAT", [0x80] = "PROTO", [0x81] = "NEWOBJ",
	[0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2",
	[0x87] = "TUPLE3", [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1",
	[0x8b] = "LONG4", [0x42] = "BINBYTES", [0x43] = "SHORT_BINBYTES",
	[0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8",
	[0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
	[0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
	[0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};

const char *pickle_opcode_name(uint8_t op)
{
	return names[op];
}

const char *pickle_strerror(int err)
{
	switch (err) {
	case PICKLE_ETRUNCATED:
		return "the pickle ends before its STOP";
	case PICKLE_EPROTOCOL:
		return "not a pickle of protocol 2 to 5";
	case PICKLE_EREFUSED:
		return "an opcode other than a list of integers' refused";
	case PICKLE_ESHAPE:
		return "not a flat list of integers";
	case PICKLE_ERANGE:
		return "an integer beyond 64 bits";
	case PICKLE_EFRAME:
		return "inconsistent FRAMEs";
	case PICKLE_ETRAILING:
		return "bytes after STOP";
	default:
		return "unknown pickle error";
	}
}

/* ---- reading ---- */

static bool in_subset(uint8_t op)
{
	switch (op) {
	case OP_MARK: case OP_STOP: case OP_BININT: case OP_BININT1: case OP_BININT2:
	case OP_EMPTY_LIST: case OP_APPEND: case OP_APPENDS: case OP_BINPUT:
	case OP_LONG_BINPUT: case OP_PROTO: case OP_LONG1: case OP_LONG4: case OP_MEMOIZE:
	case OP_FRAME:
		return true;
	default:
		return false;
	}
}

static bool is_int_op(uint8_t op)
{
	return op == OP_BININT1 || op == OP_BININT2 || op == OP_BININT || op == OP_LONG1 ||
	       op == OP_LONG4;
}

void pickle_reader_init(struct pickle_reader *r, const uint8_t *buf, size_t len)
{
	*r = (struct pickle_reader){ .buf = buf, .len = len, .state = ST_PROTO };
}

static int fail(struct pickle_reader *r, int err)
{
	r->err = (int8_t)err;
	return err;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The n bytes of an opcode's argument, or NULL (the error set): inside a
 * frame they must not cross its end (Python refuses that too). */
static const uint8_t *take(struct pickle_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->frame_end && n > r->frame_end - r->pos) {
		fail(r, PICKLE_EFRAME);
		return NULL;
	}
	if (n > r->len - r->pos) {
		fail(r, PICKLE_ETRUNCATED);
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

/* A LONG1/LONG4 body: n bytes of two's complement, little-endian, any
 * length (0 is zero); in range when the bytes past the eighth only repeat
 * the sign. */
static int long_value(const uint8_t *p, size_t n, int64_t *v)
{
	uint64_t u = 0;
	uint8_t sign;
	size_t k = n < 8 ? n : 8;

	if (n == 0) {
		*v = 0;
		return 0;
	}
	sign = (p[n - 1] & 0x80) ? 0xff : 0x00;
	for (size_t i = 8; i < n; i++)
		if (p[i] != sign)
			return PICKLE_ERANGE;
	if (n > 8 && (p[7] & 0x80) != (sign & 0x80))
		return PICKLE_ERANGE;
	for (size_t i = 0; i < k; i++)
		u |= (uint64_t)p[i] << (8 * i);
	if (k < 8 && sign)
		u |= ~(uint64_t)0 << (8 * k);
	memcpy(v, &u, sizeof(u)); /* two's complement, without an implementation-defined cast */
	return 0;
}

/* The argument of the integer opcode just read. */
static int read_int(struct pickle_reader *r, int64_t *v)
{
	const uint8_t *p;
	size_t n;
	int rc;

	switch (r->op) {
	case OP_BININT1:
		if (!(p = take(r, 1)))
			return r->err;
		*v = p[0];
		return 0;
	case OP_BININT2:
		if (!(p = take(r, 2)))
			return r->err;
		*v = p[0] | p[1] << 8;
		return 0;
	case OP_BININT:
		if (!(p = take(r, 4)))
			return r->err;
		*v = (int32_t)le32(p);
		return 0;
	case OP_LONG1:
		if (!(p = take(r, 1)))
			return r->err;
		n = p[0];
		break;
	default: /* OP_LONG4 */
		if (!(p = take(r, 4)))
			return r->err;
		if (le32(p) > INT32_MAX) /* Python: "negative byte count" */
			return fail(r, PICKLE_ESHAPE);
		n = le32(p);
		break;
	}
	if (!(p = take(r, n)))
		return r->err;
	rc = long_value(p, n, v);
	return rc ? fail(r, rc) : 0;
}

/* FRAME: a length, the frame's bytes following. A new frame only once
 * the previous one is used up, and only from protocol 4 on. */
static int read_frame(struct pickle_reader *r)
{
	const uint8_t *p;
	uint64_t n = 0;

	if (r->proto < 4 || r->frame_end)
		return fail(r, PICKLE_EFRAME);
	if (!(p = take(r, 8)))
		return r->err;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | p[i];
	if (n > r->len - r->pos)
		return fail(r, PICKLE_EFRAME);
	r->frame_end = r->pos + (size_t)n;
	return 0;
}

/* The next opcode into r->op; leaves a frame that is used up. */
static int read_op(struct pickle_reader *r)
{
	if (r->frame_end && r->pos == r->frame_end)
		r->frame_end = 0;
	if (r->pos == r->len)
		return fail(r, PICKLE_ETRUNCATED);
	r->op_pos = r->pos;
	r->op = r->buf[r->pos++];
	return 0;
}

static int misplaced(struct pickle_reader *r)
{
	return fail(r, in_subset(r->op) ? PICKLE_ESHAPE : PICKLE_EREFUSED);
}

/* With the list on top: MARK, STOP, or one integer for APPEND. */
static int step_top(struct pickle_reader *r, int64_t *v)
{
	int rc;

	if (r->op == OP_MARK) {
		r->state = ST_MARK;
		return 0;
	}
	if (r->op == OP_STOP) {
		r->state = ST_DONE;
		return 0;
	}
	if (!is_int_op(r->op))
		return misplaced(r);
	r->state = ST_ONE;
	return (rc = read_int(r, v)) ? rc : 1;
}

/* One opcode in the state the reader is in: 1 when it pushed an integer
 * (*v), 0 to go on, or an error. */
static int step(struct pickle_reader *r, int64_t *v)
{
	const uint8_t *p;
	int rc;

	if (r->op == OP_FRAME && r->state != ST_PROTO)
		return read_frame(r);
	switch (r->state) {
	case ST_PROTO:
		if (r->op != OP_PROTO)
			return fail(r, PICKLE_EPROTOCOL);
		if (!(p = take(r, 1)))
			return r->err;
		r->proto = p[0];
		if (r->proto < PICKLE_PROTO_MIN || r->proto > PICKLE_PROTO_MAX)
			return fail(r, PICKLE_EPROTOCOL);
		r->state = ST_LIST;
		return 0;
	case ST_LIST:
		if (r->op != OP_EMPTY_LIST)
			return misplaced(r);
		r->state = ST_MEMO;
		return 0;
	case ST_MEMO: /* the list's memo entry, if any: written, never read back */
		r->state = ST_TOP;
		if (r->op == OP_MEMOIZE)
			return 0;
		if (r->op == OP_BINPUT || r->op == OP_LONG_BINPUT)
			return take(r, r->op == OP_BINPUT ? 1 : 4) ? 0 : r->err;
		return step_top(r, v);
	case ST_TOP:
		return step_top(r, v);
	case ST_MARK:
		if (r->op == OP_APPENDS) {
			r->state = ST_TOP;
			return 0;
		}
		if (!is_int_op(r->op))
			return misplaced(r);
		return (rc = read_int(r, v)) ? rc : 1;
	default: /* ST_ONE */
		if (r->op != OP_APPEND)
			return misplaced(r);
		r->state = ST_TOP;
		return 0;
	}
}

int pickle_next_int(struct pickle_reader *r, int64_t *v)
{
	int rc;

	if (r->err)
		return r->err;
	for (;;) {
		if (r->state == ST_DONE)
			return r->pos == r->len ? 0 : fail(r, PICKLE_ETRAILING);
		if ((rc = read_op(r)) || (rc = step(r, v)))
			return rc;
	}
}

void pickle_describe(const struct pickle_reader *r, int err, char *out, size_t cap)
{
	const char *name = names[r->op];

	switch (err) {
	case PICKLE_ETRUNCATED:
		snprintf(out, cap, "the pickle ends at byte %zu, before its STOP", r->len);
		break;
	case PICKLE_EPROTOCOL:
		if (r->op == OP_PROTO)
			snprintf(out, cap, "pickle protocol %u: protocols 2 to 5 are accepted",
				 r->proto);
		else
			snprintf(out, cap, "not a pickle of protocol 2 to 5 (first byte 0x%02x%s)",
				 r->op, r->op == 0x28 || r->op == 0x5d ? ": protocol 0 or 1?" : "");
		break;
	case PICKLE_EREFUSED:
		if (name)
			snprintf(out, cap,
				 "opcode %s (0x%02x) at byte %zu: only a list of integers is "
				 "accepted", name, r->op, r->op_pos);
		else
			snprintf(out, cap, "byte 0x%02x at %zu is no pickle opcode", r->op,
				 r->op_pos);
		break;
	case PICKLE_ESHAPE:
		snprintf(out, cap, "opcode %s (0x%02x) at byte %zu out of place: not a flat list "
			 "of integers", name, r->op, r->op_pos);
		break;
	case PICKLE_ERANGE:
		snprintf(out, cap, "the integer at byte %zu does not fit 64 bits", r->op_pos);
		break;
	case PICKLE_EFRAME:
		snprintf(out, cap, "opcode %s at byte %zu: %s", name, r->op_pos,
			 r->proto < 4 ? "a FRAME before protocol 4"
				      : "frames that do not match the bytes (cut short, nested, or "
					"an opcode across a frame's end)");
		break;
	case PICKLE_ETRAILING:
		snprintf(out, cap, "%zu byte%s after STOP", r->len - r->pos,
			 r->len - r->pos == 1 ? "" : "s");
		break;
	default:
		snprintf(out, cap, "%s", pickle_strerror(err));
	}
}

/* ---- writing ---- */

/* Two passes: the first measures (out NULL) and finds whether the last
 * frame is too small for a header; the second writes, leaving that header
 * out from the start, so it never writes past the pickle's size. */
struct writer {
	uint8_t *out;
	size_t pos;
	size_t frame_start;   /* where the current frame's content starts */
	size_t headerless_at; /* a frame starting here gets no header (second pass) */
	size_t small_at;      /* the first pass found that one here */
	bool framing, headerless;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->out && n)
		memcpy(w->out + w->pos, p, n);
	w->pos += n;
}

static void put_op(struct writer *w, uint8_t op, const void *arg, size_t n)
{
	put(w, &op, 1);
	put(w, arg, n);
}

static void frame_open(struct writer *w)
{
	w->headerless = w->pos == w->headerless_at;
	if (!w->headerless)
		w->pos += FRAME_HEADER; /* written when the frame closes */
	w->frame_start = w->pos;
}

static size_t frame_len(const struct writer *w)
{
	return w->pos - w->frame_start;
}

/* The C pickler's _Pickler_CommitFrame: the header gets the length, or a
 * frame too small to be worth one goes without. */
static void frame_close(struct writer *w)
{
	size_t len = frame_len(w);
	uint8_t *h;

	if (w->headerless)
		return;
	if (len < FRAME_SIZE_MIN) { /* only the last frame can be this small */
		w->small_at = w->frame_start - FRAME_HEADER;
		w->pos -= FRAME_HEADER;
		return;
	}
	if (!w->out)
		return;
	h = w->out + w->frame_start - FRAME_HEADER;
	h[0] = OP_FRAME;
	for (int i = 0; i < 8; i++)
		h[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
}

/* After each saved object (an item, the list): a full frame is closed
 * and the next one opened. */
static void boundary(struct writer *w)
{
	if (w->framing && frame_len(w) >= FRAME_SIZE_TARGET) {
		frame_close(w);
		frame_open(w);
	}
}

/* save_long: the shortest of BININT1, BININT2, BININT; LONG1 beyond 32 bits. */
static void put_int(struct writer *w, int64_t v)
{
	uint8_t b[8];
	uint64_t u;
	size_t n;

	if (v >= INT32_MIN && v <= INT32_MAX) {
		uint32_t x = (uint32_t)v;

		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(x >> (8 * i));
		if (b[2] || b[3])
			put_op(w, OP_BININT, b, 4);
		else if (b[1])
			put_op(w, OP_BININT2, b, 2);
		else
			put_op(w, OP_BININT1, b, 1);
		return;
	}
	/* two's complement in the fewest bytes that keep the sign (encode_long) */
	memcpy(&u, &v, sizeof(u));
	for (n = 0; n < 8; n++)
		b[n] = (uint8_t)(u >> (8 * n));
	while (n > 1 && ((b[n - 1] == 0x00 && !(b[n - 2] & 0x80)) ||
			 (b[n - 1] == 0xff && (b[n - 2] & 0x80))))
		n--;
	put_op(w, OP_LONG1, (uint8_t[]){ (uint8_t)n }, 1);
	put(w, b, n);
}

static size_t encode(struct writer *w, int proto, const int64_t *v, size_t n)
{
	size_t i = 0;

	put_op(w, OP_PROTO, (uint8_t[]){ (uint8_t)proto }, 1);
	if (w->framing)
		frame_open(w);
	put_op(w, OP_EMPTY_LIST, NULL, 0);
	if (proto >= 4)
		put_op(w, OP_MEMOIZE, NULL, 0);
	else
		put_op(w, OP_BINPUT, (uint8_t[]){ 0 }, 1);
	if (n == 1) {
		put_int(w, v[0]);
		boundary(w);
		put_op(w, OP_APPEND, NULL, 0);
	}
	while (n > 1 && i < n) {
		put_op(w, OP_MARK, NULL, 0);
		for (size_t b = 0; b < BATCH && i < n; b++, i++) {
			put_int(w, v[i]);
			boundary(w);
		}
		put_op(w, OP_APPENDS, NULL, 0);
	}
	boundary(w);
	put_op(w, OP_STOP, NULL, 0);
	if (w->framing)
		frame_close(w);
	return w->pos;
}

size_t pickle_encode_ints(int proto, const int64_t *v, size_t n, uint8_t *out, size_t cap)
{
	struct writer m = { .framing = proto >= 4, .headerless_at = SIZE_MAX,
			    .small_at = SIZE_MAX };
	struct writer w = m;
	size_t len = encode(&m, proto, v, n);

	if (len > cap)
		return len;
	w.out = out;
	w.headerless_at = m.small_at;
	encode(&w, proto, v, n);
	return len;
}
