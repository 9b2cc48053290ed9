/*
 * job.c - a job's easy handle, made again for each try (internal.h): a
 * webhook's request or an e-mail's SMTP transaction, with what both share
 * (the job as the handle's private pointer, the error buffer, the
 * timeout, no signals).
 */
#include "notify/internal.h"

#include <string.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "0.0.0"
#endif

/* One option more, while the ones before went well. */
#define SET(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)

/* An answer's body is read and thrown away, up to a bound: past it the
 * transfer stops (CURLE_WRITE_ERROR) and the status decides. */
static size_t discard_answer(char *data, size_t size, size_t nmemb, void *arg)
{
	struct notify__job *job = arg;
	size_t n = size * nmemb;

	(void)data;
	if (n > NOTIFY_RESPONSE_MAX - job->answered) {
		job->answer_cut = true;
		return 0;
	}
	job->answered += n;
	return n;
}

/* The e-mail's bytes, as libcurl asks for them (it dot-stuffs them). */
static size_t read_mail(char *buf, size_t size, size_t nitems, void *arg)
{
	struct notify__job *job = arg;
	size_t n = job->len - job->sent;

	if (n > size * nitems)
		n = size * nitems;
	memcpy(buf, job->body + job->sent, n);
	job->sent += n;
	return n;
}

static CURLcode webhook_options(struct notify__job *job, CURL *h)
{
	CURLcode rc = CURLE_OK;

	SET(CURLOPT_URL, job->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, "agora/" AGORA_VERSION);
	SET(CURLOPT_HTTPHEADER, job->list);
	SET(CURLOPT_POSTFIELDS, job->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->len);
	if (strcmp(job->method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, job->method);
	SET(CURLOPT_WRITEFUNCTION, discard_answer);
	SET(CURLOPT_WRITEDATA, job);
	return rc;
}

static CURLcode email_options(struct notify__job *job, CURL *h)
{
	const struct notify_config *cfg = &job->n->cfg;
	bool tls = strncmp(cfg->smtp_url, "smtps://", 8) == 0;
	CURLcode rc = CURLE_OK;

	SET(CURLOPT_URL, cfg->smtp_url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* smtps:// is TLS from the start; smtp:// takes STARTTLS if offered */
	SET(CURLOPT_USE_SSL, tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	if (cfg->smtp_user[0]) {
		SET(CURLOPT_USERNAME, cfg->smtp_user);
		SET(CURLOPT_PASSWORD, cfg->smtp_password);
	}
	SET(CURLOPT_MAIL_FROM, job->mail_from);
	SET(CURLOPT_MAIL_RCPT, job->list);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, read_mail);
	SET(CURLOPT_READDATA, job);
	return rc;
}

int notify__job_setup(struct notify__job *job)
{
	CURL *h = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!h)
		return -1;
	job->error[0] = '\0';
	job->sent = 0;
	job->answered = 0;
	job->answer_cut = false;
	SET(CURLOPT_PRIVATE, job);
	SET(CURLOPT_ERRORBUFFER, job->error);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)job->timeout_ms);
	if (rc == CURLE_OK)
		rc = job->kind == NOTIFY__WEBHOOK ? webhook_options(job, h) : email_options(job, h);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(h);
		return -1;
	}
	job->easy = h;
	return 0;
}
