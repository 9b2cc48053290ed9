/*
 * mqtt_service.h - MQTT on the connection layer: each connection is a
 * broker client; bytes read go to broker_client_input, the client's
 * queued packets go out as the connection's output, and the broker's close
 * decisions become the layer's closes. The protocol itself is the broker
 * core's (src/broker/); this file only joins the two.
 */
#ifndef AGORA_MQTT_SERVICE_H
#define AGORA_MQTT_SERVICE_H

#include "config.h"
#include "net/net.h"
#include "outbatch.h"
#include "tls_setup.h"

struct broker;
struct broker_client;
struct persist;

struct mqtt_service {
	struct net_service svc;    /* listeners are bound to this */
	struct net *net;
	struct broker *broker;     /* not owned */
	enum anon_policy anonymous;
	uint64_t last_refusal_log;
	struct outbatch_pool batches;
	/* The broker's durable log, NULL with persistence off: no output
	 * leaves before the records of the changes it acknowledges. */
	struct persist *persist;
};

/* Registers the service on n (its per-turn write of the broker's dirty
 * clients) with cfg's limits; listeners are added with mqtt_service_listen. */
void mqtt_service_init(struct mqtt_service *m, struct net *n, struct broker *b,
		       const struct agora_config *cfg);
/* Listens on lc and logs "listening on ADDRESS[ (TLS)][ (anonymous
 * clients refused)]"; -1 (logged) if it cannot. A TLS listener goes into
 * tls (the process's registry: SIGHUP reloads its certificates). */
int mqtt_service_listen(struct mqtt_service *m, struct tls_listeners *tls,
			const struct listener_config *lc);
/* SIGHUP: the connection limit again. */
void mqtt_service_reconfigure(struct mqtt_service *m, const struct agora_config *cfg);
/* A login finished (broker_login_done): the client's held input goes in
 * and reading resumes. */
void mqtt_service_resume(struct mqtt_service *m, struct broker_client *c);
/* A connection upgraded to MQTT over WebSocket on an HTTP listener
 * (loopback or not): its broker client, to hand to net_conn_upgrade_ws
 * with &m->svc; NULL (counted as refused) when max_connections are open.
 * The anonymous policy is allow_anonymous's, with the listener's address. */
struct broker_client *mqtt_service_adopt(struct mqtt_service *m, struct net_conn *conn,
					 bool loopback);
/* After the loop has ended. */
void mqtt_service_release(struct mqtt_service *m);

#endif
