/*
 * http_server.h - HTTP/1.1 on the connection layer (src/net/): each
 * connection's bytes go to an http_reader, each complete request to
 * api_handle (or, for slow work, the thread pool), each answer into the
 * connection's output. It decides nothing about the API itself.
 */
#ifndef AGORA_HTTP_SERVER_H
#define AGORA_HTTP_SERVER_H

#include "config.h"
#include "net/net.h"

#include <stdint.h>

struct api;
struct http_server;
struct mqtt_service;
struct outbuf_pool;
struct tls_listeners;

/* Listens on cfg->listener and logs "HTTP API on http://ADDRESS/api"
 * (https:// with tls=yes: the listener then goes into tls, the process's
 * registry that SIGHUP reloads); NULL (logged) if it cannot. api, bufs
 * (the answers' storage) and tls are not owned. Stopping is the net's
 * (net_stop): idle connections close at once, a request under way gets a
 * 503 and its connection closes. */
struct http_server *http_server_new(struct net *n, const struct http_config *cfg,
				    struct api *api, struct outbuf_pool *bufs,
				    struct tls_listeners *tls);
/* After the loop has ended; NULL is fine. */
void http_server_free(struct http_server *hs);
/* The same on cfg->websocket_listener, serving only GET /mqtt (MQTT over
 * WebSocket); logs "MQTT over WebSocket on ws://ADDRESS/mqtt" (wss://
 * with tls=yes). */
struct http_server *http_server_new_ws(struct net *n, const struct http_config *cfg,
				       struct api *api, struct outbuf_pool *bufs,
				       struct tls_listeners *tls);
/* GET /mqtt upgrades to m's MQTT (without it: 503); frames and messages
 * up to websocket_max_message bytes, or max_packet when that is 0. */
void http_server_set_mqtt(struct http_server *hs, struct mqtt_service *m, uint32_t max_packet);
uint32_t http_server_connections(const struct http_server *hs);
/* Its service: the connection counters. */
const struct net_service *http_server_service(const struct http_server *hs);
uint64_t http_server_requests(const struct http_server *hs);

#endif
