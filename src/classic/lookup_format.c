/* lookup_format.c - `agora lookup`'s results as text and JSON, and its error lines. */
#include "lookup.h"

#include "chat_text.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *lookup_strerror(enum lookup_status st)
{
	switch (st) {
	case LOOKUP_OK: return "found";
	case LOOKUP_NO_HOST: return "no such host";
	case LOOKUP_NO_ADDRESS: return "the name exists but has no address";
	case LOOKUP_NO_NAME: return "no name for this address";
	case LOOKUP_AGAIN: return "the resolver could not answer (no DNS server reachable?)";
	case LOOKUP_FAIL: return "the resolver failed";
	case LOOKUP_TIMEOUT: return "no answer in time";
	case LOOKUP_INTERRUPTED: return "interrupted";
	case LOOKUP_BAD_QUERY: return "not a host name or address";
	case LOOKUP_LOCAL: return "a local failure (memory, threads)";
	}
	return "unknown error";
}

/* A name as it may be printed: escaped (4 bytes per byte at most). */
#define SAFE_MAX (4 * NI_MAXHOST + 1)

static const char *safe(const char *s, char *buf)
{
	size_t used, n = chat_escape((const uint8_t *)s, strlen(s), buf, SAFE_MAX - 1, &used);

	buf[n] = '\0';
	return buf;
}

static const char *family_name(const struct lookup_addr *a)
{
	return a->sa.ss_family == AF_INET6 ? "IPv6" : "IPv4";
}

/* "reverse NAME", or why there is none. */
static void reverse_text(const struct lookup_addr *a, char *buf, struct text *out)
{
	if (a->reverse_status == LOOKUP_OK)
		text_printf(out, "reverse %s\n", safe(a->reverse, buf));
	else if (a->reverse_status == LOOKUP_NO_NAME)
		text_printf(out, "no reverse name\n");
	else
		text_printf(out, "reverse unknown: %s\n", lookup_strerror(a->reverse_status));
}

void lookup_format_text(const struct lookup_result *r, struct text *out)
{
	char buf[SAFE_MAX];
	int width = 9;

	if (r->is_address) {
		text_printf(out, "address    %s\n", safe(r->query, buf));
		text_printf(out, "reverse    %s\n", safe(r->reverse, buf));
		if (r->forward_status != LOOKUP_OK) {
			text_printf(out, "addresses  none: %s\n",
				    lookup_strerror(r->forward_status));
			return;
		}
	} else {
		text_printf(out, "name       %s\n", safe(r->query, buf));
	}
	if (r->canonical[0])
		text_printf(out, "canonical  %s\n", safe(r->canonical, buf));
	for (unsigned i = 0; i < r->naddrs; i++)
		if ((int)strlen(r->addrs[i].text) > width)
			width = (int)strlen(r->addrs[i].text);
	for (unsigned i = 0; i < r->naddrs; i++) {
		const struct lookup_addr *a = &r->addrs[i];
		text_printf(out, "%s       %-*s  ", family_name(a), width, a->text);
		reverse_text(a, buf, out);
	}
	if (r->more)
		text_printf(out, "(more addresses: the first %d are shown)\n", LOOKUP_MAX_ADDRS);
}

/* A JSON string for a name: as it is when it is UTF-8 (JSON_ENSURE_ASCII
 * escapes the rest), escaped when it is not (jansson takes UTF-8 only). */
static json_t *name_json(const char *s)
{
	char buf[SAFE_MAX];

	if (chat_utf8_valid((const uint8_t *)s, strlen(s)))
		return json_string(s);
	return json_string(safe(s, buf));
}

static json_t *addr_json(const struct lookup_addr *a)
{
	const char *family = a->sa.ss_family == AF_INET6 ? "ipv6" : "ipv4";
	json_t *o = json_object();

	json_object_set_new(o, "family", json_string(family));
	json_object_set_new(o, "address", json_string(a->text));
	if (a->reverse_status == LOOKUP_OK) {
		json_object_set_new(o, "reverse", name_json(a->reverse));
	} else {
		json_object_set_new(o, "reverse", json_null());
		json_object_set_new(o, "reverse_error",
				    json_string(lookup_strerror(a->reverse_status)));
	}
	return o;
}

char *lookup_format_json(const struct lookup_result *r)
{
	json_t *o = json_object(), *list = json_array();
	char *s;

	json_object_set_new(o, "query", name_json(r->query));
	json_object_set_new(o, "kind", json_string(r->is_address ? "address" : "name"));
	if (r->is_address) {
		json_object_set_new(o, "reverse", name_json(r->reverse));
		if (r->forward_status != LOOKUP_OK)
			json_object_set_new(o, "error",
					    json_string(lookup_strerror(r->forward_status)));
	}
	json_object_set_new(o, "canonical",
			    r->canonical[0] ? name_json(r->canonical) : json_null());
	for (unsigned i = 0; i < r->naddrs; i++)
		json_array_append_new(list, addr_json(&r->addrs[i]));
	json_object_set_new(o, "addresses", list);
	json_object_set_new(o, "truncated", json_boolean(r->more));
	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	return s;
}
