/*
 * fuzz_rules.c - libFuzzer target for the rules engine's core
 * (rules/rules.h): rule texts and templates, what an administrator types.
 *
 * The input is split at its first NUL byte: before it a rule's text, after
 * it a template (and the event's payload). The rule is parsed (every span
 * of the SQL maps inside the text) and compiled on one engine kept across
 * inputs: a refusal has a position inside the text (or -1) and a message;
 * a compiled rule is evaluated against an event carrying the template's
 * bytes as payload (binary or not), and its row has the rule's columns. The
 * template, compiled, renders against that row into a small bounded buffer
 * (never past its maximum, NUL-terminated), and so does the row as JSON.
 */
#include "rules/internal.h"
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rules_engine *engine;

static void check_error(const struct rules_error *err, size_t len)
{
	if (err->position < -1 || err->position > (int)len || !err->message[0] ||
	    !memchr(err->message, '\0', sizeof(err->message)))
		abort();
}

static void check_parse(const char *text, size_t len)
{
	struct rules__parsed p = {0};
	struct rules_error err = {0};

	if (rules__parse(text, len, &p, &err) == 0) {
		for (uint32_t i = 0; i < p.nspans; i++) {
			const struct rules__span *sp = &p.spans[i];
			if (sp->out + sp->len > p.sql_len || sp->in > len ||
			    (sp->copy && (sp->in + sp->len > len ||
					  memcmp(p.sql + sp->out, text + sp->in, sp->len) != 0)))
				abort(); /* a copy is the text it says it is */
			if (rules__map_offset(&p, (int)sp->out) != (int)sp->in)
				abort();
		}
	} else {
		check_error(&err, len);
	}
	rules__parsed_release(&p);
}

static void check_render(const struct rules_template *t, const struct rules_row *row)
{
	struct rules_buf b = {.max = 4096};
	int rc = rules_template_render(t, row, &b);

	if (b.len > b.max || (rc == 0 && b.s[b.len] != '\0') || (rc && b.len != 0))
		abort();
	b.len = 0;
	rc = rules_row_json(row, &b);
	if (b.len > b.max || (rc == 0 && (b.s[0] != '{' || b.s[b.len - 1] != '}')))
		abort();
	free(b.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)(nul - data) : size;
	const char *tpl = nul ? (const char *)nul + 1 : "";
	size_t tpl_len = nul ? size - len - 1 : 0;
	struct rules_rule *r = NULL;
	struct rules_template *t = NULL;
	struct rules_error err = {0};
	struct rules_row row = {0};
	struct rules_event ev = {.topic = "a/b/c",
				 .topic_len = 5,
				 .payload = tpl,
				 .payload_len = tpl_len,
				 .event = "message.publish",
				 .event_len = 15,
				 .qos = 1};

	if (!engine && !(engine = rules_engine_new()))
		abort();
	check_parse(text, len);
	if (rules_compile(engine, text, len, &r, &err) == 0) {
		enum rules_outcome out = rules_eval(r, &ev, &row);
		if (out == RULES_PASSED && row.ncolumns != r->ncolumns)
			abort();
		if (out == RULES_FAILED && !row.error[0])
			abort();
	} else {
		check_error(&err, len);
	}
	if (rules_template_compile(tpl, tpl_len, &t, &err) == 0)
		check_render(t, &row);
	else
		check_error(&err, tpl_len);
	rules_template_free(t);
	rules_row_release(&row);
	rules_rule_free(r);
	return 0;
}
