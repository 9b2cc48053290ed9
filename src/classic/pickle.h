/*
 * pickle.h - the one kind of Python pickle the integer adder accepts and
 * writes: a flat list of integers, protocols 2 to 5. Pure functions over
 * buffers: no I/O, no allocation, nothing executed.
 *
 * What is read (docs/protocols.md, "Integer adder"), in this order:
 *
 *   PROTO n (2..5)  EMPTY_LIST  [MEMOIZE | BINPUT i | LONG_BINPUT i]
 *   { MARK int... APPENDS | int APPEND }...  STOP
 *
 * where int is BININT1, BININT2, BININT, LONG1 or LONG4 holding a value
 * that fits 64 bits, and FRAME (protocol 4 and 5) may open a frame between
 * any two opcodes once the previous frame is used up. That is what
 * CPython's pickle.dumps (the C pickler, and the pure-Python one) writes
 * for a list of ints at every protocol from 2 to 5. Every other opcode
 * (GLOBAL, REDUCE, strings, floats, dicts, a second list, ...) is refused
 * where it stands: the reader is a state machine over the opcodes above,
 * not a pickle virtual machine, so there is nothing it could execute.
 *
 * Errors are negative PICKLE_E* codes; pickle_describe turns the reader's
 * state after one into a sentence naming the opcode and its offset.
 */
#ifndef AGORA_PICKLE_H
#define AGORA_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#define PICKLE_PROTO_MIN 2
#define PICKLE_PROTO_MAX 5

enum pickle_err {
	PICKLE_ETRUNCATED = -1, /* the bytes end before STOP */
	PICKLE_EPROTOCOL = -2,  /* not PROTO 2..5 first (protocols 0 and 1 included) */
	PICKLE_EREFUSED = -3,   /* an opcode outside the subset (an object, a string...) */
	PICKLE_ESHAPE = -4,     /* allowed opcodes in an order no flat list of ints has */
	PICKLE_ERANGE = -5,     /* an integer beyond 64 bits */
	PICKLE_EFRAME = -6,     /* a FRAME longer than the rest, nested, before
				 * protocol 4, or an opcode across its end */
	PICKLE_ETRAILING = -7,  /* bytes after STOP */
};

const char *pickle_strerror(int err);

/* A reader over one whole pickle (the adder's frame gives its length). */
struct pickle_reader {
	const uint8_t *buf;
	size_t len, pos;
	size_t frame_end;   /* the end of the current frame; 0 outside frames */
	size_t op_pos;      /* offset of the opcode read last (errors name it) */
	uint8_t op;         /* that opcode */
	uint8_t proto;      /* from PROTO */
	uint8_t state;      /* where in the grammar above (pickle.c) */
	int8_t err;         /* the error returned, once one was */
};

void pickle_reader_init(struct pickle_reader *r, const uint8_t *buf, size_t len);

/* The next integer of the list: 1 and *v set; 0 when the list is complete
 * (STOP, and nothing after it); a negative PICKLE_E* code, after which
 * every call returns it again. Integers come as they are read: the caller
 * trusts none of them before the final 0. */
int pickle_next_int(struct pickle_reader *r, int64_t *v);

/* One line about err from the reader that returned it, e.g. "opcode
 * GLOBAL (0x63) at byte 2: only a list of integers is accepted";
 * into out (cap bytes, NUL-terminated, cut if longer). */
void pickle_describe(const struct pickle_reader *r, int err, char *out, size_t cap);

/* The opcode's name in pickletools ("BININT1"), or NULL for a byte that
 * is no opcode. */
const char *pickle_opcode_name(uint8_t op);

/*
 * Writes the bytes pickle.dumps(list_of_ints, protocol=proto) gives in
 * CPython 3 (the C pickler: BINPUT 0 at protocols 2 and 3, MEMOIZE and
 * FRAMEs of about 64 KiB at 4 and 5; APPEND for a one-element list,
 * batches of 1000 in MARK ... APPENDS otherwise) into out. Returns the
 * pickle's size; when that is more than cap, what out holds is not
 * usable (call with cap 0 to measure). proto must be 2..5.
 */
size_t pickle_encode_ints(int proto, const int64_t *v, size_t n, uint8_t *out, size_t cap);

#endif
