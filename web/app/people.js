// people.js - every user and their status. The list is read once over REST,
// then kept current by the retained status topics: each status change, and
// each new user's first status, arrives on agora/users/{name}/status.

import { h, $, when, showError } from "./dom.js";
import { api, apiAll } from "./api.js";
import { json } from "./live.js";

// Names compare without regard to ASCII case (docs/api.md).
const key = (name) => name.toLowerCase();

export async function startPeople(ctx) {
	const users = ctx.users; // Map key(name) -> {name, status, status_updated_at}
	const list = $("people-list");

	function render() {
		const sorted = [...users.values()].sort((a, b) => a.name.localeCompare(b.name));
		list.replaceChildren(...sorted.map((u) =>
			h("li", { "data-user": u.name },
				h("span", { class: "name" }, u.name),
				key(u.name) === key(ctx.session.name) ? " (you)" : "",
				h("div", { class: "text status" }, u.status || "—"),
				u.status_updated_at ? h("div", { class: "muted" }, "since " + when(u.status_updated_at)) : null)));
		// The compose form's name suggestions.
		$("user-names").replaceChildren(...sorted.map((u) => h("option", { value: u.name })));
	}

	$("status-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const input = $("status-text");
		try {
			const u = await api("PATCH", `/api/users/${encodeURIComponent(ctx.session.name)}`,
				{ status: input.value });
			// Shown at once; the MQTT echo then says the same thing.
			users.set(key(u.name), u);
			showError($("status-error"), null);
			render();
		} catch (e) {
			showError($("status-error"), e);
			return;
		}
	});

	ctx.live.on("agora/users/+/status", 1, (topic, payload) => {
		const name = topic.split("/")[2];
		const s = json(payload);
		if (s && s.name)
			users.set(key(s.name), { ...users.get(key(s.name)), ...s });
		else
			users.delete(key(name)); // cleared: the user was deleted
		render();
	});

	for (const u of await apiAll("/api/users", "users"))
		users.set(key(u.name), u);
	render();
	const me = users.get(key(ctx.session.name));
	if (me)
		$("status-text").value = me.status || "";
}
