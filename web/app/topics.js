// topics.js - the topic explorer: subscribe to any filter, watch messages
// with their topic, QoS, retain flag and payload, publish. It has its own
// MQTT connection, so subscribing to or leaving a filter here never touches
// the subscriptions the other panels depend on.

import { h, $, showError } from "./dom.js";
import { connect } from "./live.js";

const MAX_SHOWN = 200; // older messages are dropped from the page

// Payload as text, pretty-printed JSON, or hex when it is not UTF-8 text.
export function describePayload(bytes) {
	let text;
	try {
		text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
	} catch {
		text = null;
	}
	// Control characters other than tab and line breaks: binary, show hex.
	if (text === null || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
		const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
		return { kind: "hex", text: hex };
	}
	const t = text.trim();
	if (t.startsWith("{") || t.startsWith("[")) {
		try {
			return { kind: "json", text: JSON.stringify(JSON.parse(t), null, 2) };
		} catch {
			// not JSON after all: shown as text
		}
	}
	return { kind: "text", text };
}

export function startTopics(ctx) {
	const log = $("topic-log");
	const subs = new Set();
	const conn = connect(ctx.session, () => {}, "explorer");

	function show(topic, payload, packet) {
		const p = describePayload(payload);
		const li = h("li", null,
			h("div", { class: "meta" },
				h("span", { class: "topic" }, topic),
				h("span", null, `QoS ${packet.qos}`),
				packet.retain ? h("span", { class: "retain" }, "retained") : null,
				h("span", { class: "muted" }, `${p.kind}, ${payload.length} bytes · ${new Date().toLocaleTimeString()}`)),
			h("pre", { class: "payload" }, p.text));
		log.prepend(li);
		while (log.children.length > MAX_SHOWN)
			log.lastElementChild.remove();
	}

	function renderSubs() {
		$("sub-list").replaceChildren(...[...subs].map((f) =>
			h("li", null, h("code", null, f),
				h("button", {
					type: "button", class: "secondary", "aria-label": `Unsubscribe from ${f}`,
					onclick: () => { conn.off(f); subs.delete(f); renderSubs(); },
				}, "×"))));
	}

	$("sub-form").addEventListener("submit", (ev) => {
		ev.preventDefault();
		const f = $("sub-filter").value.trim();
		if (!f || subs.has(f))
			return;
		subs.add(f);
		conn.on(f, Number($("sub-qos").value), show);
		renderSubs();
	});

	$("pub-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		try {
			await conn.publish($("pub-topic").value, $("pub-payload").value,
				{ qos: Number($("pub-qos").value), retain: $("pub-retain").checked });
			showError($("pub-error"), null);
		} catch (e) {
			showError($("pub-error"), e);
		}
	});

	$("topic-clear").addEventListener("click", () => log.replaceChildren());
}
