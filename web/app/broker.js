// broker.js - the broker's own figures, from the retained $SYS topics
// (docs/mqtt.md, "$SYS topics"): published every sys_interval seconds, so a
// rate is the change of a counter between two updates over their interval.

import { h, $ } from "./dom.js";

const SHOWN = [
	["version", "Version"],
	["uptime", "Uptime"],
	["clients/connected", "Clients connected"],
	["clients/maximum", "Most clients at once"],
	["clients/total", "Sessions"],
	["messages/received", "Messages received"],
	["messages/sent", "Messages sent"],
	["subscriptions/count", "Subscriptions"],
	["retained messages/count", "Retained messages"],
	["publish/messages/dropped", "Messages dropped"],
];
const RATED = new Set(["messages/received", "messages/sent"]);

export function startBroker(ctx) {
	const values = new Map(); // "clients/connected" -> text
	const last = new Map(); // counter -> {n, t}: its previous value and time
	const rates = new Map();

	function render() {
		$("broker-stats").replaceChildren(...SHOWN.flatMap(([k, label]) => {
			let v = values.get(k) ?? "…";
			if (rates.has(k))
				v += ` (${rates.get(k).toFixed(1)}/s)`;
			return [h("dt", null, label), h("dd", { "data-sys": k }, v)];
		}));
	}

	ctx.live.on("$SYS/broker/#", 0, (topic, payload) => {
		const k = topic.slice("$SYS/broker/".length);
		const text = new TextDecoder().decode(payload);
		values.set(k, text);
		if (RATED.has(k)) {
			const n = Number(text);
			const now = performance.now();
			const prev = last.get(k);
			if (prev && now > prev.t)
				rates.set(k, ((n - prev.n) * 1000) / (now - prev.t));
			last.set(k, { n, t: now });
		}
		render();
	});
	render();
}
