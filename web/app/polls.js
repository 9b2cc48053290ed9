// polls.js - polls: list, create, vote, and results as bar charts kept live
// by the retained results topics (agora/polls/{id}/results), which the server
// publishes after every vote, whoever cast it and however.

import { h, $, when, showError } from "./dom.js";
import { api, apiAll } from "./api.js";
import { json } from "./live.js";

export async function startPolls(ctx) {
	const polls = new Map(); // id -> poll as GET /api/polls/{id} shows it
	const mine = new Map(); // id -> the option number I voted for, this session
	const list = $("poll-list");

	function optionRow(p, o) {
		const pct = p.total ? Math.round((100 * o.votes) / p.total) : 0;
		const fill = h("span");
		// Through the CSSOM: the page's CSP refuses style attributes.
		fill.style.width = pct + "%";
		const votes = `${o.votes} vote${o.votes === 1 ? "" : "s"} (${pct}%)`;
		return h("div", { class: "option", "data-option": o.number },
			h("span", { class: "label" }, o.label, mine.get(p.id) === o.number ? " ✓" : ""),
			// The bar repeats the count in the text beside it: hidden from
			// screen readers, which read the text.
			h("div", { class: "bar", "aria-hidden": "true" },
				fill),
			h("span", { class: "count" }, votes),
			p.open ? h("button", {
				type: "button", class: "secondary", "aria-label": `Vote for ${o.label}`,
				"data-focus": `vote-${p.id}-${o.number}`,
				onclick: () => vote(p, o),
			}, mine.has(p.id) ? "Change" : "Vote") : null);
	}

	function card(p) {
		const state = p.open ? (p.closes_at ? "open until " + when(p.closes_at) : "open") : "closed";
		return h("article", { class: "poll", "data-poll": p.id },
			h("h3", null, p.question),
			h("p", { class: "muted" },
				`#${p.id} by ${p.creator ?? "a deleted account"} · ${state} · ${p.total} vote${p.total === 1 ? "" : "s"}`),
			p.options.map((o) => optionRow(p, o)),
			h("p", { class: "error", role: "alert" }));
	}

	function render() {
		// Open polls first, then newest first (the order of GET /api/polls).
		const sorted = [...polls.values()].sort((a, b) => (b.open - a.open) || (b.id - a.id));
		// Results change under the reader's keyboard focus: put it back on
		// the same button after the cards are rebuilt.
		const focused = document.activeElement?.dataset?.focus;
		list.replaceChildren(...sorted.map(card));
		if (focused)
			list.querySelector(`[data-focus="${focused}"]`)?.focus();
	}

	function showVoteError(p, e) {
		const el = list.querySelector(`[data-poll="${p.id}"] .error`);
		if (el)
			showError(el, e);
	}

	async function vote(p, o) {
		try {
			let r;
			try {
				r = await api(mine.has(p.id) ? "PUT" : "POST",
					`/api/polls/${p.id}/votes${mine.has(p.id) ? "/me" : ""}`, { option: o.number });
			} catch (e) {
				// Voted earlier (another session, the CLI): change it instead.
				if (e.code !== "already_voted")
					throw e;
				r = await api("PUT", `/api/polls/${p.id}/votes/me`, { option: o.number });
			}
			mine.set(p.id, r.option.number);
			polls.set(p.id, r.results);
			render();
		} catch (e) {
			showVoteError(p, e);
		}
	}

	$("poll-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const options = $("poll-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
		try {
			const p = await api("POST", "/api/polls", { question: $("poll-question").value, options });
			polls.set(p.id, p);
			$("poll-question").value = "";
			$("poll-options").value = "";
			showError($("poll-error"), null);
			render();
		} catch (e) {
			showError($("poll-error"), e);
		}
	});

	ctx.live.on("agora/polls/+/results", 1, (topic, payload) => {
		const p = json(payload);
		if (p && p.id !== undefined) {
			polls.set(p.id, p);
			render();
		}
	});

	for (const p of await apiAll("/api/polls", "polls"))
		polls.set(p.id, p);
	render();
}
