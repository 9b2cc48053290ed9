/*
 * routes.c - the REST API's route table (docs/api.md). The OpenAPI
 * document must list exactly these (tests/unit/test_openapi.c checks it).
 */
#include "api/internal.h"

static const struct api_route routes[] = {
	{ "GET", "/healthz", api_healthz },
	{ "GET", "/metrics", api_metrics },
	{ "GET", "/api/openapi.json", api_openapi },
	{ "GET", "/api/doc", api_doc },
	{ "POST", "/api/users", api_create_user },
	{ "GET", "/api/users", api_list_users },
	{ "GET", "/api/users/{id}", api_get_user },
	{ "PATCH", "/api/users/{id}", api_patch_user },
	{ "DELETE", "/api/users/{id}", api_delete_user },
	{ "POST", "/api/users/{id}/messages", api_send_to_user },
	{ "POST", "/api/login", api_login },
	{ "POST", "/api/logout", api_logout },
	{ "POST", "/api/messages", api_send_message },
	{ "GET", "/api/messages", api_inbox },
	/* before /api/messages/{id}: a literal segment wins */
	{ "GET", "/api/messages/sent", api_sent },
	{ "GET", "/api/messages/{id}", api_get_message },
	{ "PATCH", "/api/messages/{id}", api_patch_message },
	{ "DELETE", "/api/messages/{id}", api_delete_message },
	{ "POST", "/api/polls", api_create_poll },
	{ "GET", "/api/polls", api_list_polls },
	{ "GET", "/api/polls/{id}", api_get_poll },
	{ "POST", "/api/polls/{id}/close", api_close_poll },
	{ "POST", "/api/polls/{id}/votes", api_cast_vote },
	/* "me" is a literal segment: before any {param} in its place */
	{ "GET", "/api/polls/{id}/votes/me", api_my_vote },
	{ "PUT", "/api/polls/{id}/votes/me", api_change_vote },
	{ "GET", "/api/rules", api_list_rules },
	{ "POST", "/api/rules", api_create_rule },
	{ "GET", "/api/rules/{id}", api_get_rule },
	{ "PUT", "/api/rules/{id}", api_put_rule },
	{ "DELETE", "/api/rules/{id}", api_delete_rule },
	{ "POST", "/api/rules/{id}/test", api_test_rule },
	{ "GET", "/api/collections/{name}", api_get_collection },
	{ "GET", "/api/integer", api_integer },
	{ "GET", "/api/float", api_float },
	{ "POST", "/api/seed", api_seed },
};

const struct api_route *api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
