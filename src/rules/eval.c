/*
 * eval.c - a rule evaluated against an event: the event's fields bound to
 * the statement's eight parameters, one step, the row copied out of SQLite
 * into the caller's reusable struct rules_row, the statement reset.
 *
 * Everything is bound SQLITE_STATIC (the event outlives the call and the
 * statement is reset before returning), so an evaluation copies nothing in;
 * out, it copies the selected texts and blobs once into the row's byte
 * array, which keeps its size from one evaluation to the next.
 */
#include "rules/internal.h"

#include "base/array.h"
#include "mqtt/mqtt.h"

#include <sqlite3.h>

#include <stdio.h>
#include <string.h>

/* SQLite's subtype of the JSON its functions return (json.c in SQLite). */
#define JSON_SUBTYPE 74 /* 'J' */

void rules_row_release(struct rules_row *row)
{
	if (!row)
		return;
	free(row->values);
	free(row->bytes);
	memset(row, 0, sizeof(*row));
}

/* Text or NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, n ? s : "", (int)n, SQLITE_STATIC);
}

/* The payload is TEXT when it is well-formed UTF-8 without U+0000 (what
 * SQLite's text functions can take), else a BLOB. */
static int bind_payload(sqlite3_stmt *st, const struct rules_event *ev)
{
	const uint8_t *p = ev->payload ? ev->payload : (const uint8_t *)"";

	if (mqtt_utf8_valid(p, ev->payload_len))
		return sqlite3_bind_text(st, 2, (const char *)p, (int)ev->payload_len,
					 SQLITE_STATIC);
	return sqlite3_bind_blob(st, 2, p, (int)ev->payload_len, SQLITE_STATIC);
}

static int bind_event(sqlite3_stmt *st, const struct rules_event *ev, struct rules_row *row)
{
	int rc;

	if (ev->payload_len > RULES_MAX_LENGTH || ev->topic_len > RULES_MAX_LENGTH ||
	    ev->clientid_len > RULES_MAX_LENGTH || ev->username_len > RULES_MAX_LENGTH ||
	    ev->event_len > RULES_MAX_LENGTH) {
		snprintf(row->error, sizeof(row->error), "event too big: a field over %d bytes",
			 RULES_MAX_LENGTH);
		return -1;
	}
	rc = bind_text(st, 1, ev->topic, ev->topic_len);
	rc = rc ? rc : bind_payload(st, ev);
	rc = rc ? rc : bind_text(st, 3, ev->clientid, ev->clientid_len);
	rc = rc ? rc : bind_text(st, 4, ev->username, ev->username_len);
	rc = rc ? rc : sqlite3_bind_int(st, 5, ev->qos);
	rc = rc ? rc : sqlite3_bind_int(st, 6, ev->retain ? 1 : 0);
	rc = rc ? rc : sqlite3_bind_int64(st, 7, ev->timestamp);
	rc = rc ? rc : bind_text(st, 8, ev->event, ev->event_len);
	if (rc) {
		snprintf(row->error, sizeof(row->error), "%s", sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* Copies n bytes and a NUL to the row's byte array. */
static void keep_bytes(struct rules_row *row, const void *p, size_t n)
{
	ARRAY_GROW(row->bytes, row->bytes_cap, (size_t)row->bytes_len + n + 1, 256, ARRAY_MAX);
	if (n)
		memcpy(row->bytes + row->bytes_len, p, n);
	row->bytes[row->bytes_len + n] = '\0';
	row->bytes_len += (uint32_t)n + 1;
}

/* Copies column i into v: 0, or -1 when the row's bytes would pass
 * RULES_MAX_ROW. */
static int copy_value(sqlite3_stmt *st, int i, struct rules_value *v, struct rules_row *row)
{
	const void *p = NULL;

	v->json = false;
	v->s = NULL;
	v->len = 0;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = RULES_INT;
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->type = RULES_REAL;
		v->d = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		v->type = RULES_TEXT;
		p = sqlite3_column_text(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		v->json = sqlite3_value_subtype(sqlite3_column_value(st, i)) == JSON_SUBTYPE;
		break;
	case SQLITE_BLOB:
		v->type = RULES_BLOB;
		p = sqlite3_column_blob(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	default: v->type = RULES_NULL; return 0;
	}
	if (v->type == RULES_TEXT || v->type == RULES_BLOB) {
		if (v->len + 1 > RULES_MAX_ROW - row->bytes_len)
			return -1;
		keep_bytes(row, p, v->len);
	}
	return 0;
}

/* The current row into row: values first, then the texts' pointers, once
 * the byte array has stopped moving. -1 past RULES_MAX_ROW. */
static int copy_row(struct rules__rule *r, struct rules_row *row)
{
	uint32_t n = r->pub.ncolumns, off = 0;

	ARRAY_GROW(row->values, row->values_cap, n, 8, RULES_MAX_COLUMNS);
	row->ncolumns = n;
	row->bytes_len = 0;
	for (uint32_t i = 0; i < n; i++) {
		row->values[i].name = r->columns[i];
		if (copy_value(r->stmt, (int)i, &row->values[i], row)) {
			row->ncolumns = 0;
			snprintf(row->error, sizeof(row->error),
				 "selected row too big: over %u bytes", RULES_MAX_ROW);
			return -1;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		struct rules_value *v = &row->values[i];
		if (v->type == RULES_TEXT || v->type == RULES_BLOB) {
			v->s = row->bytes + off;
			off += (uint32_t)v->len + 1;
		}
	}
	return 0;
}

static void failed(struct rules__rule *r, struct rules_row *row, int rc)
{
	struct rules_engine *e = r->pub.engine;

	if (rc == SQLITE_INTERRUPT && e->timed_out)
		snprintf(row->error, sizeof(row->error), "evaluation too long: stopped after %u ms",
			 e->max_ms);
	else if (rc == SQLITE_INTERRUPT)
		snprintf(row->error, sizeof(row->error),
			 "evaluation too long: stopped after %d steps", RULES_MAX_STEPS);
	else if (rc != SQLITE_OK)
		snprintf(row->error, sizeof(row->error), "%s", sqlite3_errmsg(e->db));
	r->pub.stats.failed++;
	memcpy(r->pub.stats.last_error, row->error, sizeof(row->error));
}

enum rules_outcome rules_eval(struct rules_rule *rule, const struct rules_event *ev,
			      struct rules_row *row)
{
	struct rules__rule *r = (struct rules__rule *)rule;
	enum rules_outcome out;
	int rc;

	row->ncolumns = 0;
	row->error[0] = '\0';
	if (ev->depth >= rule->engine->max_depth) {
		rule->stats.loop_stopped++;
		return RULES_LOOP_STOPPED;
	}
	rule->stats.matched++;
	if (bind_event(r->stmt, ev, row) != 0) {
		failed(r, row, SQLITE_OK);
		return RULES_FAILED;
	}
	rule->engine->ticks = 0;
	rule->engine->timed_out = false;
	rule->engine->deadline_ns = rules__monotonic_ns() + (int64_t)rule->engine->max_ms * 1000000;
	rc = sqlite3_step(r->stmt);
	if (rc == SQLITE_ROW && copy_row(r, row) != 0) {
		failed(r, row, SQLITE_OK);
		out = RULES_FAILED;
	} else if (rc == SQLITE_ROW) {
		rule->stats.passed++;
		out = RULES_PASSED;
	} else if (rc == SQLITE_DONE) {
		out = RULES_NOT_PASSED;
	} else {
		failed(r, row, rc);
		out = RULES_FAILED;
	}
	sqlite3_reset(r->stmt);
	return out;
}
