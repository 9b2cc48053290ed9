// live.js - one MQTT connection over WebSocket to the server the page came
// from (GET /mqtt, subprotocol "mqtt"; MQTT.js from /app/mqtt.min.js sets
// window.mqtt). The account logs in with its API token as the password
// (docs/api.md, "Logging in"), so the page never keeps the password.
//
// Panels register handlers per filter; one connection serves them all, and
// subscriptions are made again by MQTT.js after a reconnect.

// Does the topic match the filter? (MQTT's rules, $-topics included.)
export function topicMatches(filter, topic) {
	const f = filter.split("/");
	const t = topic.split("/");
	if (t[0].startsWith("$") && (f[0] === "+" || f[0] === "#"))
		return false;
	for (let i = 0; i < f.length; i++) {
		if (f[i] === "#")
			return true;
		if (i >= t.length || (f[i] !== "+" && f[i] !== t[i]))
			return false;
	}
	return f.length === t.length;
}

export function brokerUrl() {
	const scheme = location.protocol === "https:" ? "wss:" : "ws:";
	return `${scheme}//${location.host}/mqtt`;
}

// connect(session, onState) -> {on(filter, qos, fn), publish(...), end()}.
// onState(true|false, text) reports the connection for the header badge.
// fn(topic, payload: Uint8Array, packet) runs for each matching message.
export function connect(session, onState, clientPrefix = "web") {
	const client = window.mqtt.connect(brokerUrl(), {
		username: session.name,
		password: session.token,
		clientId: `${clientPrefix}-${session.name}-${Math.random().toString(16).slice(2, 10)}`,
		protocolVersion: 4,
		clean: true,
		reconnectPeriod: 3000,
		resubscribe: false, // subscribeAll does it
		connectTimeout: 5000,
	});
	const handlers = [];

	// Subscriptions are made (again) on every CONNACK: the session is clean,
	// so after a reconnect the broker has forgotten them.
	const subscribeAll = () => {
		const seen = new Map();
		for (const h of handlers)
			seen.set(h.filter, Math.max(seen.get(h.filter) ?? 0, h.qos));
		for (const [filter, qos] of seen)
			client.subscribe(filter, { qos });
	};
	client.on("connect", () => {
		subscribeAll();
		onState(true, "live");
	});
	client.on("reconnect", () => onState(false, "reconnecting…"));
	client.on("close", () => onState(false, "live updates unavailable"));
	client.on("error", (e) => onState(false, "live updates unavailable: " + e.message));
	client.on("message", (topic, payload, packet) => {
		for (const h of handlers) {
			if (topicMatches(h.filter, topic))
				h.fn(topic, payload, packet);
		}
	});

	return {
		client,
		on(filter, qos, fn) {
			handlers.push({ filter, qos, fn });
			if (client.connected)
				client.subscribe(filter, { qos });
		},
		off(filter) {
			for (let i = handlers.length - 1; i >= 0; i--) {
				if (handlers[i].filter === filter)
					handlers.splice(i, 1);
			}
			client.unsubscribe(filter);
		},
		publish(topic, payload, opts) {
			return new Promise((resolve, reject) =>
				client.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve())));
		},
		end() {
			client.end(true);
		},
	};
}

// A JSON payload, or null (an empty retained message clears a topic).
export function json(payload) {
	if (!payload || payload.length === 0)
		return null;
	try {
		return JSON.parse(new TextDecoder().decode(payload));
	} catch {
		return null;
	}
}
