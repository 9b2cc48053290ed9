/*
 * template.c - "${...}" templates (rules.h, "Templates"): compiled once
 * into literal and field parts, rendered against a row.
 *
 * A path into a column (${payload.answers[0]}) is parsed at compile time
 * into segments and walked at rendering over the column's text parsed by
 * jansson. jansson rather than SQLite's json_extract: rendering then needs
 * no SQLite connection (it may run on a queue's thread, or for the test
 * endpoint with no engine at hand), and a path of parsed segments costs no
 * parsing per rendering.
 */
#include "rules/internal.h"

#include "base/alloc.h"
#include "base/array.h"

#include <string.h>

enum part_kind { PART_TEXT, PART_FIELD, PART_ROW };

struct segment {
	bool is_index;
	size_t index;
	char *key; /* NUL-terminated */
};

struct part {
	enum part_kind kind;
	char *text; /* TEXT: the literal (unescaped); FIELD: the whole key */
	size_t len;
	size_t name_len; /* FIELD: the column's name is text[0..name_len) */
	struct segment *segs;
	uint32_t nsegs, segs_cap;
};

struct rules_template {
	struct part *parts;
	uint32_t nparts, parts_cap;
	char *literal; /* all of it, when no field */
	size_t literal_len;
};

void rules_template_free(struct rules_template *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nparts; i++) {
		for (uint32_t j = 0; j < t->parts[i].nsegs; j++)
			free(t->parts[i].segs[j].key);
		free(t->parts[i].segs);
		free(t->parts[i].text);
	}
	free(t->parts);
	free(t->literal);
	free(t);
}

static struct part *add_part(struct rules_template *t, enum part_kind kind)
{
	ARRAY_GROW(t->parts, t->parts_cap, t->nparts + 1, 4, ARRAY_MAX);
	t->parts[t->nparts] = (struct part){.kind = kind};
	return &t->parts[t->nparts++];
}

/* Appends to the literal part at the end (a new one if the last is a field). */
static void add_text(struct rules_template *t, const char *s, size_t n)
{
	struct part *p = t->nparts && t->parts[t->nparts - 1].kind == PART_TEXT
			     ? &t->parts[t->nparts - 1]
			     : add_part(t, PART_TEXT);

	p->text = xrealloc(p->text, p->len + n + 1);
	memcpy(p->text + p->len, s, n);
	p->len += n;
	p->text[p->len] = '\0';
}

static void add_segment(struct part *p, bool is_index, size_t index, const char *key, size_t n)
{
	ARRAY_GROW(p->segs, p->segs_cap, p->nsegs + 1, 4, ARRAY_MAX);
	p->segs[p->nsegs++] = (struct segment){is_index, index, is_index ? NULL : xstrndup(key, n)};
}

/* The path after the column's name: .key, ."quoted key", [n]. key[0..n) is
 * the whole key at offset `at` of the template (for errors). */
static int parse_path(struct part *p, const char *key, size_t n, int at, struct rules_error *err)
{
	size_t i = p->name_len, j;

	while (i < n) {
		if (key[i] == '[') {
			size_t idx = 0;
			for (j = i + 1; j < n && key[j] >= '0' && key[j] <= '9' && j - i < 10; j++)
				idx = idx * 10 + (size_t)(key[j] - '0');
			if (j == i + 1 || j >= n || key[j] != ']')
				goto bad_index;
			add_segment(p, true, idx, NULL, 0);
			i = j + 1;
		} else if (key[i] == '.' && i + 1 < n && key[i + 1] == '"') {
			const char *close = memchr(key + i + 2, '"', n - i - 2);
			if (!close)
				goto bad_key;
			add_segment(p, false, 0, key + i + 2, (size_t)(close - key) - i - 2);
			i = (size_t)(close - key) + 1;
		} else if (key[i] == '.') {
			for (j = i + 1; j < n && key[j] != '.' && key[j] != '['; j++)
				;
			if (j == i + 1)
				goto bad_key;
			add_segment(p, false, 0, key + i + 1, j - i - 1);
			i = j;
		} else {
			goto bad_key;
		}
	}
	return 0;
bad_index:
	rules__error(err, at + (int)i, "expected an array index [n] in a template's path");
	return RULES_ERR_SYNTAX;
bad_key:
	rules__error(err, at + (int)i, "expected a key after '.' in a template's path");
	return RULES_ERR_SYNTAX;
}

/* ${key}: key at s[start..end) of the template. */
static int add_field(struct rules_template *t, const char *s, size_t start, size_t end,
		     size_t dollar, struct rules_error *err)
{
	struct part *p;

	while (start < end && (s[start] == ' ' || s[start] == '\t'))
		start++;
	while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	if (start == end) {
		rules__error(err, (int)dollar, "empty ${}: a column's name or * is expected");
		return RULES_ERR_SYNTAX;
	}
	if (end - start == 1 && s[start] == '*') {
		add_part(t, PART_ROW);
		return 0;
	}
	if (s[start] == '.' || s[start] == '[') {
		rules__error(err, (int)start, "a template's field starts with a column's name");
		return RULES_ERR_SYNTAX;
	}
	p = add_part(t, PART_FIELD);
	p->text = xstrndup(s + start, end - start);
	p->len = end - start;
	p->name_len = strcspn(p->text, ".[");
	return parse_path(p, p->text, p->len, (int)start, err);
}

static int parse_template(struct rules_template *t, const char *s, size_t len,
			  struct rules_error *err)
{
	size_t i = 0, lit = 0;

	while (i < len) {
		const char *close;
		int rc;

		if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
			add_text(t, s + lit, i - lit);
			add_text(t, "${", 2); /* $${ is a literal ${ */
			i += 3;
			lit = i;
			continue;
		}
		if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{') {
			i++;
			continue;
		}
		close = memchr(s + i + 2, '}', len - i - 2);
		if (!close) {
			rules__error(err, (int)i, "unterminated ${: a '}' is missing");
			return RULES_ERR_SYNTAX;
		}
		add_text(t, s + lit, i - lit);
		rc = add_field(t, s, i + 2, (size_t)(close - s), i, err);
		if (rc)
			return rc;
		i = lit = (size_t)(close - s) + 1;
	}
	add_text(t, s + lit, i - lit);
	return 0;
}

int rules_template_compile(const char *text, size_t len, struct rules_template **out,
			   struct rules_error *err)
{
	struct rules_template *t = xcalloc(1, sizeof(*t));
	int rc;

	if (len > RULES_RENDER_MAX_DEFAULT) {
		rules__error(err, -1, "a template is at most %u bytes", RULES_RENDER_MAX_DEFAULT);
		rc = RULES_ERR_SYNTAX;
		goto out_free;
	}
	rc = parse_template(t, text, len, err);
	if (rc)
		goto out_free;
	if (t->nparts == 1 && t->parts[0].kind == PART_TEXT) {
		t->literal = xstrndup(t->parts[0].text, t->parts[0].len);
		t->literal_len = t->parts[0].len;
	}
	*out = t;
	return 0;
out_free:
	rules_template_free(t);
	return rc;
}

const char *rules_template_literal(const struct rules_template *t, size_t *len)
{
	*len = t->literal_len;
	return t->literal;
}

const char *rules_template_prefix(const struct rules_template *t, size_t *len)
{
	if (t->nparts && t->parts[0].kind == PART_TEXT) {
		*len = t->parts[0].len;
		return t->parts[0].text;
	}
	*len = 0;
	return "";
}

/* ---- rendering ---- */

static const struct rules_value *find_column(const struct rules_row *row, const char *name,
					     size_t n)
{
	for (uint32_t i = 0; row && i < row->ncolumns; i++) {
		const char *c = row->values[i].name;
		if (strncmp(c, name, n) == 0 && c[n] == '\0')
			return &row->values[i];
	}
	return NULL;
}

static int put_value(struct rules_buf *b, const struct rules_value *v)
{
	switch (v->type) {
	case RULES_INT: return rules__put_int(b, v->i);
	case RULES_REAL: return rules__put_real(b, v->d, false);
	case RULES_TEXT:
	case RULES_BLOB: return rules__put(b, v->s, v->len);
	default: return 0;
	}
}

static int dump_to_buf(const char *s, size_t n, void *data)
{
	return rules__put(data, s, n) ? -1 : 0;
}

static int put_json(struct rules_buf *b, const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_STRING: return rules__put(b, json_string_value(j), json_string_length(j));
	case JSON_INTEGER: return rules__put_int(b, json_integer_value(j));
	case JSON_REAL: return rules__put_real(b, json_real_value(j), false);
	case JSON_TRUE: return rules__put(b, "true", 4);
	case JSON_FALSE: return rules__put(b, "false", 5);
	case JSON_NULL: return 0;
	default:
		return json_dump_callback(j, dump_to_buf, b, JSON_COMPACT | JSON_ENCODE_ANY)
			   ? RULES_ERR_TOO_BIG
			   : 0;
	}
}

/* A path into column v's JSON text; nothing when it is not there. */
static int put_path(struct rules_buf *b, const struct rules_value *v, const struct part *p)
{
	json_t *root, *j;
	int rc = 0;

	if (v->type != RULES_TEXT)
		return 0;
	root = json_loadb(v->s, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	j = root;
	for (uint32_t i = 0; j && i < p->nsegs; i++)
		j = p->segs[i].is_index ? json_array_get(j, p->segs[i].index)
					: json_object_get(j, p->segs[i].key);
	if (j)
		rc = put_json(b, j);
	json_decref(root);
	return rc;
}

static int put_field(struct rules_buf *b, const struct part *p, const struct rules_row *row)
{
	const struct rules_value *v = find_column(row, p->text, p->len);

	if (v)
		return put_value(b, v); /* a column called the whole key */
	if (!p->nsegs)
		return 0;
	v = find_column(row, p->text, p->name_len);
	return v ? put_path(b, v, p) : 0;
}

int rules_template_render(const struct rules_template *t, const struct rules_row *row,
			  struct rules_buf *out)
{
	size_t start = out->len;
	int rc = rules__put(out, "", 0); /* NUL-terminated even when empty */

	for (uint32_t i = 0; !rc && i < t->nparts; i++) {
		const struct part *p = &t->parts[i];

		if (p->kind == PART_TEXT)
			rc = rules__put(out, p->text, p->len);
		else if (p->kind == PART_ROW)
			rc = rules_row_json(row, out);
		else
			rc = put_field(out, p, row);
	}
	if (rc) {
		out->len = start;
		if (out->s)
			out->s[start] = '\0';
	}
	return rc;
}
