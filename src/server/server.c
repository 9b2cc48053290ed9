/*
 * server.c - `agora serve` put together: one libuv loop, the connection
 * layer (src/net/) with its services (MQTT: mqtt_service.c, HTTP:
 * http_server.c), the broker core, the store and the API joined by the
 * bridge, the signals and the housekeeping timer.
 */
#include "server.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "bridge.h"
#include "bridge_polls.h"
#include "broker/auth.h"
#include "broker/broker.h"
#include "http_server.h"
#include "mqtt_service.h"
#include "net/net.h"
#include "persist.h"
#include "poll_service.h"
#include "rules_deps.h"
#include "rules_service.h"
#include "notify/notify.h"
#include "scram.h"
#include "store/store.h"
#include "tls_setup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define TICK_MS 250
#define SHUTDOWN_GRACE_MS 500
#define CHECKPOINT_MS 1000

struct server {
	uv_loop_t loop;
	struct net *net;
	struct broker *broker;
	struct agora_config cfg;
	const char *config_path;
	const struct config_overrides *overrides;
	struct mqtt_service mqtt;
	struct tls_listeners tls;  /* every listener with tls=yes: SIGHUP reloads them */
	struct http_server *http;
	struct http_server *ws;    /* NULL: websocket_listener off */
	struct poll_service *poll; /* NULL: poll_listener off */
	struct store *store;
	struct persist *persist;   /* NULL: persistence off */
	struct api *api;
	struct bridge bridge;
	struct bridge_polls polls_mqtt; /* results, votes and notices over MQTT */
	struct scram_mechanism scram;
	struct notify *notify;      /* the rules' webhooks and e-mail */
	struct rules_service *rules;
	uv_timer_t tick;
	uv_prepare_t log_turn;      /* writes the buffered log before the loop waits */
	uv_signal_t sig_int, sig_term, sig_hup;
	bool stopping;
	uv_work_t checkpoint;       /* store_checkpoint on the thread pool */
	bool checkpointing;
	uint64_t last_checkpoint_ms;
	uint64_t checkpointed_changes; /* store_changes() at the last checkpoint */
};

/* ---- housekeeping ---- */

static void checkpoint_work(uv_work_t *req)
{
	struct server *srv = req->data;

	store_checkpoint(srv->store); /* its own connection: writes go on */
}

static void checkpoint_done(uv_work_t *req, int status)
{
	struct server *srv = req->data;

	(void)status;
	srv->checkpointing = false;
}

/* The store's WAL goes into the database file off the loop, once a second
 * (store_checkpoint_elsewhere): no request waits for that fsync. */
static void maybe_checkpoint(struct server *srv, uint64_t now)
{
	uint64_t changes;

	if (srv->checkpointing || srv->stopping || now - srv->last_checkpoint_ms < CHECKPOINT_MS)
		return;
	srv->last_checkpoint_ms = now;
	changes = store_changes(srv->store);
	if (changes == srv->checkpointed_changes)
		return; /* nothing written since: no disk work at all */
	srv->checkpointed_changes = changes;
	srv->checkpointing = true;
	srv->checkpoint.data = srv;
	uv_queue_work(&srv->loop, &srv->checkpoint, checkpoint_work, checkpoint_done);
}

static void on_tick(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint64_t now = uv_now(&srv->loop);

	broker_set_time(srv->broker, now);
	broker_tick(srv->broker);
	persist_tick(srv->persist);
	maybe_checkpoint(srv, now);
}

/* Right before the loop waits for I/O: what this turn logged goes out in
 * one write (base/log.h). */
static void on_log_turn(uv_prepare_t *h)
{
	(void)h;
	log_flush();
}

/* ---- signals ---- */

static void reload(struct server *srv)
{
	struct agora_config fresh;
	char err[CONFIG_ERR_LEN];

	/* Renewed certificates come in even when the file has an error. */
	tls_listeners_reload(&srv->tls);
	if (config_build(&fresh, srv->config_path, srv->overrides, err, sizeof(err))) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		return;
	}
	log_set_level((enum log_level)fresh.log_level);
	broker_set_config(srv->broker, &fresh.broker);
	mqtt_service_reconfigure(&srv->mqtt, &fresh);
	srv->cfg.broker = fresh.broker;
	srv->cfg.max_connections = fresh.max_connections;
	srv->cfg.log_level = fresh.log_level;
	log_info("SIGHUP: configuration reloaded (log_level %s); listeners, data_dir, persistence, "
		 "allow_anonymous, HTTP, poll line, rules_queue_max and smtp_* settings apply at the "
		 "next start",
		 log_level_name((enum log_level)fresh.log_level));
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	if (signum == SIGHUP)
		reload(srv);
	else
		server_stop(srv, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void start_signal(struct server *srv, uv_signal_t *h, int signum)
{
	uv_signal_init(&srv->loop, h);
	h->data = srv;
	uv_signal_start(h, on_signal, signum);
}

/* ---- building ---- */

static int ensure_data_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0750) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
		return 0;
	log_error("data_dir %s: %s", dir, errno == EEXIST ? "not a directory" : strerror(errno));
	return -1;
}

/* A login finished (the bridge's password check): the client reads again. */
static void resume_client(void *ctx, struct broker_client *c)
{
	struct server *srv = ctx;

	mqtt_service_resume(&srv->mqtt, c);
}

/* The rules: the outbound queue, the service over the broker and the
 * bridge, its hooks in the API, the stored rules installed. */
static int start_rules(struct server *srv)
{
	struct rules_service_config rc = { .max_depth = srv->cfg.rules_max_depth };
	struct store_rule_list l = { 0 };
	struct rules_deps deps;
	struct rules_error err;

	srv->notify = notify_new(&srv->loop, &srv->cfg.notify); /* NULL: logged, no webhooks */
	rules_deps_init(&deps, &srv->bridge);
	srv->rules = rules_service_new(srv->broker, srv->net, srv->notify, &deps, &rc);
	if (!srv->rules)
		return -1;
	srv->bridge.rules = srv->rules;
	rules_service_api(srv->rules, &srv->api->rules);
	if (store_rule_list(srv->store, &l)) {
		log_error("rules: could not read the stored rules");
		return -1;
	}
	for (size_t i = 0; i < l.n; i++)
		if (rules_service_install(srv->rules, &l.items[i], &err))
			log_warn("rule %lld (%s) not installed: %s", (long long)l.items[i].id,
				 l.items[i].name, err.message);
	store_rule_list_free(&l);
	return 0;
}

/* The store in data_dir and the API over it, joined to the broker; false
 * (logged) if the database cannot be opened. */
static bool open_api(struct server *srv)
{
	const struct agora_config *cfg = &srv->cfg;
	char path[sizeof(cfg->data_dir) + 16];
	char err[512];
	struct api_config ac;

	if (ensure_data_dir(cfg->data_dir))
		return false;
	snprintf(path, sizeof(path), "%s/agora.db", cfg->data_dir);
	/* persistence full promises a power loss loses nothing: the API's
	 * messages neither. */
	if (store_open(path,
		       cfg->http.store_sync_full || cfg->persistence == PERSIST_FULL ? STORE_SYNC_FULL
										 : STORE_SYNC_NORMAL,
		       &srv->store, err, sizeof(err))) {
		log_error("%s", err);
		return false;
	}
	api_config_defaults(&ac);
	ac.message_max = cfg->http.message_max;
	ac.status_max = cfg->http.status_max;
	ac.poll_question_max = cfg->http.poll_question_max;
	ac.poll_option_max = cfg->http.poll_option_max;
	ac.cors_origins = cfg->http.cors_origins; /* srv->cfg outlives the api */
	ac.pwhash_mem = (size_t)cfg->http.password_hash_kib * 1024;
	ac.pwhash_ops = cfg->http.password_hash_passes;
	ac.login_failures_per_minute = cfg->http.login_failures_per_minute;
	if (store_checkpoint_elsewhere(srv->store))
		log_warn("store: checkpoints stay inside writes");
	srv->api = api_new(srv->store, &ac);
	srv->api->admins = cfg->http.admins; /* srv->cfg outlives the api, as above */
	srv->bridge = (struct bridge){ .broker = srv->broker, .loop = &srv->loop,
				       .resume = resume_client, .resume_ctx = srv,
				       .services = { &srv->mqtt.svc }, .polls = &srv->polls_mqtt };
	bridge_attach(&srv->bridge, srv->api);
	if (bridge_polls_attach(&srv->polls_mqtt, &srv->api->polls))
		return false;
	if (start_rules(srv))
		return false;
	scram_mechanism_init(&srv->scram, srv->store);
	broker_auth_register(srv->broker, &srv->scram.m);
	return true;
}

struct server *server_new(const struct agora_config *cfg, const char *config_path,
			  const struct config_overrides *ov)
{
	struct server *srv = xcalloc(1, sizeof(*srv));

	srv->cfg = *cfg;
	srv->config_path = config_path;
	srv->overrides = ov;
	uv_loop_init(&srv->loop);
	srv->net = net_new(&srv->loop);
	srv->broker = broker_new(&cfg->broker);
	broker_set_version(srv->broker, "agora " AGORA_VERSION);
	broker_set_time(srv->broker, uv_now(&srv->loop));
	/* Its turn hook before the MQTT service's: results go out the same turn */
	bridge_polls_init(&srv->polls_mqtt, &srv->loop, srv->net, srv->broker);
	mqtt_service_init(&srv->mqtt, srv->net, srv->broker, &srv->cfg);
	uv_timer_init(&srv->loop, &srv->tick);
	srv->tick.data = srv;
	uv_prepare_init(&srv->loop, &srv->log_turn);
	if (!open_api(srv) || persist_open(&srv->persist, srv->broker, srv->net, cfg)) {
		server_free(srv);
		return NULL;
	}
	srv->mqtt.persist = srv->persist;
	return srv;
}

/* ---- running ---- */

/* A service's counters go to /metrics: the next free slot. */
static void show_service(struct server *srv, const struct net_service *svc)
{
	for (int i = 0; i < BRIDGE_MAX_SERVICES; i++) {
		if (!srv->bridge.services[i]) {
			srv->bridge.services[i] = svc;
			return;
		}
	}
}

/* The poll line protocol, when poll_listener is set; -1 (logged) if it
 * cannot listen. */
static int start_poll(struct server *srv)
{
	if (!srv->cfg.poll.nlisteners)
		return 0;
	srv->poll = poll_service_new(srv->net, &srv->cfg.poll, srv->api,
				     broker_outbuf_pool(srv->broker));
	if (!srv->poll || poll_service_listen(srv->poll))
		return -1;
	show_service(srv, poll_service_service(srv->poll));
	return 0;
}

int server_start(struct server *srv)
{
	const struct agora_config *cfg = &srv->cfg;
	struct listener_config def;
	const struct listener_config *lcs = cfg->listeners;
	int nl = cfg->nlisteners;

	/* Signals first: a SIGTERM that arrives as soon as the "listening" line
	 * is out must find its handler. */
	start_signal(srv, &srv->sig_int, SIGINT);
	start_signal(srv, &srv->sig_term, SIGTERM);
	start_signal(srv, &srv->sig_hup, SIGHUP);
	if (nl == 0) {
		config_parse_listener_opts(CONFIG_DEFAULT_LISTENER, &def, NULL, 0);
		lcs = &def;
		nl = 1;
	}
	for (int i = 0; i < nl; i++)
		if (mqtt_service_listen(&srv->mqtt, &srv->tls, &lcs[i]))
			return -1;
	if (strcmp(cfg->http.listener, "off") != 0) {
		srv->http = http_server_new(srv->net, &cfg->http, srv->api,
					    broker_outbuf_pool(srv->broker), &srv->tls);
		if (!srv->http)
			return -1;
		srv->bridge.http = srv->http;
		srv->bridge.net = srv->net;
		http_server_set_mqtt(srv->http, &srv->mqtt, cfg->broker.max_packet_size);
		show_service(srv, http_server_service(srv->http));
	}
	if (strcmp(cfg->http.websocket_listener, "off") != 0) {
		srv->ws = http_server_new_ws(srv->net, &cfg->http, srv->api,
					     broker_outbuf_pool(srv->broker), &srv->tls);
		if (!srv->ws)
			return -1;
		http_server_set_mqtt(srv->ws, &srv->mqtt, cfg->broker.max_packet_size);
	}
	if (start_poll(srv))
		return -1;
	net_start(srv->net);
	uv_timer_start(&srv->tick, on_tick, TICK_MS, TICK_MS);
	uv_prepare_start(&srv->log_turn, on_log_turn);
	uv_unref((uv_handle_t *)&srv->log_turn);
	log_info("agora %s ready (max %u connections, max packet %u bytes)", AGORA_VERSION,
		 cfg->max_connections, cfg->broker.max_packet_size);
	return 0;
}

void server_run(struct server *srv)
{
	uv_run(&srv->loop, UV_RUN_DEFAULT);
}

void server_stop(struct server *srv, const char *why)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("%s: stopping (%u connections)", why, srv->mqtt.svc.nconns);
	uv_close((uv_handle_t *)&srv->tick, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	/* Every connection is told (MQTT v5 clients get DISCONNECT 0x8B, an
	 * HTTP request under way its 503) and closed by the end of the grace;
	 * the loop then ends. */
	persist_stop(srv->persist);
	if (srv->rules)
		rules_service_set_notify(srv->rules, NULL);
	notify_free(srv->notify); /* notify.h: when the server starts to stop */
	srv->notify = NULL;
	net_stop(srv->net, SHUTDOWN_GRACE_MS);
}

/* ---- the end ---- */

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	/* After a failed start the loop still holds listeners and timers:
	 * they close here (no connection was ever accepted). */
	if (!srv->stopping) {
		srv->stopping = true;
		if (srv->rules)
			rules_service_set_notify(srv->rules, NULL);
		notify_free(srv->notify);
		srv->notify = NULL;
		net_stop(srv->net, 0);
	}
	uv_walk(&srv->loop, close_handle, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&srv->loop) != 0)
		log_warn("event loop closed with handles still open");
	srv->bridge.rules = NULL;
	rules_service_free(srv->rules); /* before the broker, the API and the bridge it reaches */
	http_server_free(srv->http);
	http_server_free(srv->ws);
	poll_service_free(srv->poll); /* before the API it observes */
	bridge_polls_release(&srv->polls_mqtt); /* before the polls it observes go */
	mqtt_service_release(&srv->mqtt);
	persist_close(srv->persist); /* every session detached: their last state */
	net_free(srv->net);
	api_free(srv->api);
	store_free(srv->store);
	broker_free(srv->broker);
	free(srv);
}
