// main.js - the page's entry point: signing up, logging in and out, the
// panel navigation (#people, #messages, …: the address names the panel, so
// reloads and links keep it), and starting each panel once signed in.

import { $, showError } from "./dom.js";
import { api, loadSession, saveSession } from "./api.js";
import { connect } from "./live.js";
import { startPeople } from "./people.js";
import { startMessages } from "./messages.js";
import { startPolls } from "./polls.js";
import { startTopics } from "./topics.js";
import { startBroker } from "./broker.js";

const PANELS = ["people", "messages", "polls", "topics", "broker"];

function showPanel() {
	const want = location.hash.slice(1);
	const current = PANELS.includes(want) ? want : PANELS[0];
	for (const p of PANELS) {
		$(p).hidden = p !== current;
		const tab = $("tab-" + p);
		if (p === current)
			tab.setAttribute("aria-current", "page");
		else
			tab.removeAttribute("aria-current");
	}
}

function setLive(on, text) {
	const el = $("live-state");
	el.dataset.state = on ? "on" : "off";
	el.textContent = text;
}

async function start(session) {
	$("auth").hidden = true;
	$("app").hidden = false;
	$("who").hidden = false;
	$("me").textContent = session.name;
	showPanel();
	setLive(false, "connecting…");
	const ctx = { session, users: new Map(), live: connect(session, setLive) };
	startTopics(ctx);
	startBroker(ctx);
	// The REST reads run side by side; one failing leaves the others working.
	const results = await Promise.allSettled(
		[startPeople(ctx), startMessages(ctx), startPolls(ctx)]);
	for (const r of results) {
		if (r.status === "rejected" && r.reason && r.reason.status === 401) {
			// The token was revoked (logged out elsewhere): back to the form.
			saveSession(null);
			location.reload();
		}
	}
}

async function authenticate(ev) {
	ev.preventDefault();
	const signup = ev.submitter && ev.submitter.id === "signup";
	const body = { name: $("auth-name").value.trim(), password: $("auth-password").value };
	try {
		const r = await api("POST", signup ? "/api/users" : "/api/login", body);
		// Sign-up answers the user plus its token; log-in {token, user}.
		const user = signup ? r : r.user;
		// The name as registered: it is the one in the MQTT topics.
		const session = { name: user.name, token: r.token };
		saveSession(session);
		$("auth-password").value = "";
		showError($("auth-error"), null);
		start(session);
	} catch (e) {
		showError($("auth-error"), e);
	}
}

async function logout() {
	try {
		await api("POST", "/api/logout");
	} finally {
		saveSession(null);
		// A fresh page drops every connection, handler and list at once.
		location.hash = "";
		location.reload();
	}
}

window.addEventListener("hashchange", showPanel);
$("auth-form").addEventListener("submit", authenticate);
$("logout").addEventListener("click", logout);

const session = loadSession();
if (session)
	start(session);
else
	$("auth-name").focus();
