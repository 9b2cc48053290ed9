// messages.js - inbox, sent messages, compose. The inbox is read over REST
// once, then each new message arrives on agora/users/{me}/inbox without a
// reload. Unread messages are marked until their "Mark read" button is used.

import { h, $, when, showError } from "./dom.js";
import { api } from "./api.js";
import { json } from "./live.js";

export async function startMessages(ctx) {
	const inbox = new Map(); // id -> message, newest first when rendered
	const sent = new Map();

	function updateBadge() {
		const n = [...inbox.values()].filter((m) => !m.read).length;
		const badge = $("unread-count");
		badge.textContent = String(n);
		badge.hidden = n === 0;
		badge.setAttribute("aria-label", `${n} unread`);
	}

	function item(m, incoming) {
		const li = h("li", { class: incoming && !m.read ? "unread" : "", "data-id": m.id },
			h("span", { class: "name" }, incoming ? "From " + m.from : "To " + m.to),
			" ", h("span", { class: "muted" }, when(m.created_at)),
			h("div", { class: "text" }, m.content));
		if (incoming && !m.read) {
			li.append(h("span", { class: "muted" }, "unread "),
				h("button", { type: "button", class: "secondary", onclick: () => markRead(m) },
					"Mark read"));
		}
		return li;
	}

	function render() {
		const newest = (a, b) => b.id - a.id;
		$("inbox").replaceChildren(...[...inbox.values()].sort(newest).map((m) => item(m, true)));
		$("sent").replaceChildren(...[...sent.values()].sort(newest).map((m) => item(m, false)));
		updateBadge();
	}

	async function markRead(m) {
		try {
			inbox.set(m.id, await api("PATCH", `/api/messages/${m.id}`, { read: true }));
			render();
		} catch (e) {
			showError($("compose-error"), e);
		}
	}

	$("compose").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const err = $("compose-error");
		try {
			const m = await api("POST", "/api/messages",
				{ to: $("compose-to").value.trim(), content: $("compose-text").value });
			sent.set(m.id, m);
			$("compose-text").value = "";
			showError(err, null);
			render();
		} catch (e) {
			showError(err, e);
		}
	});

	ctx.live.on(`agora/users/${ctx.session.name}/inbox`, 1, (topic, payload) => {
		const m = json(payload);
		if (m && m.id !== undefined) {
			inbox.set(m.id, { ...inbox.get(m.id), ...m });
			render();
		}
	});

	const [got, out] = await Promise.all([
		api("GET", "/api/messages?limit=100"), api("GET", "/api/messages/sent?limit=100")]);
	for (const m of got.messages)
		inbox.set(m.id, m);
	for (const m of out.messages)
		sent.set(m.id, m);
	render();
}
