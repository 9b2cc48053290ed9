/*
 * assets.h - files the binary serves as they are: the OpenAPI document and
 * the documentation page with its scripts and styles.
 *
 * The table is generated at build time (scripts/embed.py, mk/assets.mk) from
 * files in the repository and in web/node_modules, so the binary needs
 * nothing on disk at run time. Everything is static: nothing to free.
 */
#ifndef AGORA_API_ASSETS_H
#define AGORA_API_ASSETS_H

#include <stddef.h>

struct api_asset {
	const char *path;         /* URL path, e.g. "/api/openapi.json" */
	const char *content_type; /* e.g. "application/json" */
	const unsigned char *data;
	size_t len;
};

/* The asset served at path (exact match), or NULL. */
const struct api_asset *api_asset_find(const char *path);
/* Every asset, for listing and tests: *n gets the count. */
const struct api_asset *api_assets(size_t *n);

#endif
