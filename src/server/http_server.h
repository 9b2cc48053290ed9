/*
 * http_server.h - the HTTP API's listener and connections (libuv), on the
 * same loop as the MQTT listeners. It moves bytes between sockets, the
 * http_reader and api_handle; it decides nothing about the API itself.
 */
#ifndef AGORA_HTTP_SERVER_H
#define AGORA_HTTP_SERVER_H

#include "config.h"

#include <stdint.h>
#include <uv.h>

struct api;
struct http_server;

/* Listens on cfg->listener; NULL (logged) if it cannot. api is not owned. */
struct http_server *http_server_start(uv_loop_t *loop, const struct http_config *cfg,
				      struct api *api);
/* Stops accepting and closes idle connections; requests in progress get a
 * 503. The loop closes the rest; then http_server_free. */
void http_server_stop(struct http_server *hs);
/* Closes every connection now, answered or not (the end of the shutdown
 * grace); NULL is fine. */
void http_server_close_all(struct http_server *hs);
/* After the loop has ended; NULL is fine. */
void http_server_free(struct http_server *hs);
uint32_t http_server_connections(const struct http_server *hs);
uint64_t http_server_requests(const struct http_server *hs);

#endif
