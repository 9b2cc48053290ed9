/* outcome.c - what the end of one try means (internal.h). */
#include "notify/internal.h"

#include <stdio.h>

/* Failures of the way there, which may pass: the next try may connect. */
static bool transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static enum notify__verdict http_status(long code, char *reason, size_t reasonlen)
{
	if (code >= 200 && code < 300)
		return NOTIFY__DELIVERED;
	if (code >= 300 && code < 400)
		snprintf(reason, reasonlen, "HTTP %ld (redirects are not followed)", code);
	else
		snprintf(reason, reasonlen, "HTTP %ld", code);
	return code >= 500 || code == 429 ? NOTIFY__RETRY : NOTIFY__GIVE_UP;
}

enum notify__verdict notify__verdict(enum notify__kind kind, CURLcode rc, long code,
				     bool answer_cut, const char *error, char *reason,
				     size_t reasonlen)
{
	const char *why = error && *error ? error : curl_easy_strerror(rc);

	if (kind == NOTIFY__WEBHOOK && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && answer_cut)))
		return http_status(code, reason, reasonlen);
	if (kind == NOTIFY__EMAIL && rc == CURLE_OK)
		return NOTIFY__DELIVERED;
	/* An SMTP server's reply says whether to try again: 4xx later,
	 * 5xx never (RFC 5321 4.2.1), whatever libcurl's code. */
	if (kind == NOTIFY__EMAIL && code >= 400 && code < 600) {
		snprintf(reason, reasonlen, "SMTP %ld: %s", code, why);
		return code < 500 ? NOTIFY__RETRY : NOTIFY__GIVE_UP;
	}
	snprintf(reason, reasonlen, "%s", why);
	return transient(rc) ? NOTIFY__RETRY : NOTIFY__GIVE_UP;
}
