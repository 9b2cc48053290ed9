// web_test.mjs - the web client (web/app/) in a real browser: Playwright
// (playwright-core from web/package-lock.json) driving Debian's chromium,
// headless, against a running `agora serve`.
//
//   node tests/web/web_test.mjs --http http://127.0.0.1:8080 --mqtt-port 1883 \
//        [--shots build/web-screenshots] [--readme-shot docs/screenshot.png]
//
// Prints one JSON line per case: {"case", "result": "pass"|"fail"|"skip",
// "detail"}; tests/integration/test_web.py turns them into pytest results.
// The live cases need MQTT over WebSocket at GET /mqtt: when the server
// answers that request with anything but 101 they are reported "skip" with
// the answer, never "pass". Exit status 0 unless the script itself broke.

import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const { values: opt } = parseArgs({
	options: {
		http: { type: "string" },
		"mqtt-port": { type: "string" },
		shots: { type: "string" },
		"readme-shot": { type: "string" },
		chromium: { type: "string", default: "/usr/bin/chromium" },
	},
});
const BASE = opt.http.replace(/\/$/, "");
const WAIT = 8000; // ms for anything to appear on a page
const PASSWORD = "wonderland";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

function report(name, result, detail = "") {
	console.log(JSON.stringify({ case: name, result, detail }));
}

// Does GET /mqtt upgrade to WebSocket with subprotocol mqtt?
function probeWebSocket() {
	return new Promise((resolve) => {
		const req = http.request(BASE + "/mqtt", {
			headers: {
				Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
				"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "mqtt",
			},
		});
		req.on("upgrade", (res, socket) => {
			socket.destroy();
			resolve({ ok: true });
		});
		req.on("response", (res) => {
			res.resume();
			resolve({ ok: false, why: `no MQTT over WebSocket: GET /mqtt answered ${res.statusCode}` });
		});
		req.on("error", (e) => resolve({ ok: false, why: "GET /mqtt failed: " + e.message }));
		req.end();
	});
}

// A page that records what must never happen: a request to another origin,
// an uncaught error, a CSP violation.
async function newPage(browser) {
	const context = await browser.newContext({ viewport: DESKTOP });
	const page = await context.newPage();
	page.problems = [];
	page.on("request", (r) => {
		// blob: of the page's own origin: MQTT.js's timer worker.
		const u = r.url();
		if (!u.startsWith(BASE + "/") && !u.startsWith("blob:" + BASE + "/") && !u.startsWith("data:"))
			page.problems.push("request to " + u);
	});
	page.on("websocket", (ws) => {
		if (!ws.url().startsWith(BASE.replace(/^http/, "ws") + "/"))
			page.problems.push("WebSocket to " + ws.url());
	});
	page.on("pageerror", (e) => page.problems.push("page error: " + e.message));
	page.on("console", (m) => {
		if (/Content Security Policy/i.test(m.text()))
			page.problems.push("CSP: " + m.text());
	});
	return page;
}

function check(cond, what) {
	if (!cond)
		throw new Error(what);
}

async function text(page, selector) {
	return (await page.locator(selector).first().textContent({ timeout: WAIT })) ?? "";
}

// Waits until the element's text contains want (the page updated itself).
async function waitText(page, selector, want) {
	await page.waitForFunction(([s, w]) => {
		return [...document.querySelectorAll(s)].some((e) => e.textContent.includes(w));
	}, [selector, want], { timeout: WAIT });
}

async function signUp(page, name) {
	await page.goto(BASE + "/");
	await page.fill("#auth-name", name);
	await page.fill("#auth-password", PASSWORD);
	await page.click("#signup");
	await page.locator("#app").waitFor({ state: "visible", timeout: WAIT });
	check((await text(page, "#me")) === name, "signed in as " + name);
}

async function go(page, panel) {
	await page.evaluate((p) => { location.hash = p; }, panel);
	await page.locator("#" + panel).waitFor({ state: "visible", timeout: WAIT });
}

// Until every running CSS transition (the bars' widths) has ended: the
// animations' own promises, not a fixed wait.
async function settled(page) {
	await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
}

async function waitLive(page) {
	await page.locator('#live-state[data-state="on"]').waitFor({ timeout: WAIT });
}

// Marks the document; still marked later = the page was not reloaded.
const mark = (page) => page.evaluate(() => { window.__notReloaded = true; });
async function checkNotReloaded(page) {
	check(await page.evaluate(() => window.__notReloaded === true), "the page reloaded");
}

function mosquittoPub(args, input) {
	const r = spawnSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", opt["mqtt-port"], ...args],
		{ input, timeout: 5000 });
	check(r.status === 0, "mosquitto_pub failed: " + (r.stderr || "").toString());
}

async function main() {
	const ws = await probeWebSocket();
	const browser = await chromium.launch({
		executablePath: opt.chromium, headless: true,
		// As root (CI containers) chromium refuses to start sandboxed.
		args: ["--no-sandbox"],
	});
	const alice = await newPage(browser);
	const bob = await newPage(browser);
	let pollId = null;

	async function run(name, fn, { live = false } = {}) {
		if (live && !ws.ok) {
			report(name, "skip", ws.why);
			return;
		}
		try {
			await fn();
			for (const p of [alice, bob])
				check(p.problems.length === 0, p.problems.join("; "));
			report(name, "pass");
		} catch (e) {
			report(name, "fail", String(e.message || e).split("\n")[0]);
		}
		// A problem is reported by the case it happened in, not every later one.
		alice.problems.length = 0;
		bob.problems.length = 0;
	}

	await run("page_served", async () => {
		const r = await fetch(BASE + "/");
		check(r.status === 200, "GET / answered " + r.status);
		check(r.headers.get("content-type").startsWith("text/html"), "GET / is not HTML");
		const csp = r.headers.get("content-security-policy") || "";
		check(csp.includes("default-src 'self'"), "no CSP on /: " + csp);
		await alice.goto(BASE + "/");
		check(await alice.evaluate(() => typeof window.mqtt?.connect === "function"),
			"MQTT.js did not load");
		await alice.locator("#auth-name").waitFor({ timeout: WAIT });
		check(await alice.evaluate(() => document.activeElement.id === "auth-name"),
			"the name field does not have the focus");
	});

	await run("signup_login_logout", async () => {
		await signUp(alice, "alice");
		await alice.reload(); // the token is in sessionStorage: still signed in
		await alice.locator("#app").waitFor({ state: "visible", timeout: WAIT });
		await alice.click("#logout");
		await alice.locator("#auth").waitFor({ state: "visible", timeout: WAIT });
		check(await alice.evaluate(() => sessionStorage.length === 0), "token kept after log out");
		await alice.fill("#auth-name", "alice");
		await alice.fill("#auth-password", "not the password");
		await alice.click("#login");
		await waitText(alice, "#auth-error", "");
		await alice.locator("#auth-error:not(:empty)").waitFor({ timeout: WAIT });
		await alice.fill("#auth-password", PASSWORD);
		await alice.click("#login");
		await alice.locator("#app").waitFor({ state: "visible", timeout: WAIT });
		await signUp(bob, "bob");
	});

	// Over REST only: bob sends, alice sees it after a reload, unread, and
	// marks it read; the markup in the message stays text.
	const evil = 'hi <img src=x onerror="window.__xss=1"> & <b>bold</b>';
	await run("message_unread_rest", async () => {
		await go(bob, "messages");
		await bob.fill("#compose-to", "alice");
		await bob.fill("#compose-text", evil);
		await bob.click("#compose button[type=submit]");
		await waitText(bob, "#sent li", evil);
		await alice.goto(BASE + "/#messages");
		await alice.reload();
		await waitText(alice, "#inbox li.unread", evil);
		check((await text(alice, "#unread-count")) === "1", "unread badge is not 1");
		check(await alice.locator("#inbox img, #inbox b").count() === 0, "message parsed as HTML");
		check(await alice.evaluate(() => window.__xss === undefined), "script from a message ran");
		await alice.click("#inbox li.unread button");
		await alice.locator("#inbox li.unread").waitFor({ state: "detached", timeout: WAIT });
		check(await alice.locator("#unread-count").isHidden(), "unread badge still shown");
	});

	await run("poll_create_vote_rest", async () => {
		await go(alice, "polls");
		await alice.fill("#poll-question", "Été ou hiver ?");
		await alice.fill("#poll-options", "été\nhiver\n");
		await alice.click("#poll-form button[type=submit]");
		const card = alice.locator(".poll", { hasText: "Été ou hiver ?" });
		await card.waitFor({ timeout: WAIT });
		pollId = await card.getAttribute("data-poll");
		await alice.click(`[data-poll="${pollId}"] button[aria-label="Vote for été"]`);
		await waitText(alice, `[data-poll="${pollId}"] [data-option="1"] .count`, "1 vote (100%)");
	});

	await run("status_rest", async () => {
		await go(bob, "people");
		await bob.fill("#status-text", "reading <i>docs</i>");
		await bob.click("#status-form button[type=submit]");
		await waitText(bob, '#people-list li[data-user="bob"] .status', "reading <i>docs</i>");
	});

	// The live cases: both pages stay loaded; updates arrive over MQTT.
	await run("live_message", async () => {
		await go(alice, "messages");
		await go(bob, "messages");
		await Promise.all([waitLive(alice), waitLive(bob)]);
		await mark(bob);
		await alice.fill("#compose-to", "bob");
		await alice.fill("#compose-text", "live hello from alice");
		await alice.click("#compose button[type=submit]");
		await waitText(bob, "#inbox li.unread", "live hello from alice");
		check((await text(bob, "#unread-count")) === "1", "bob's unread badge is not 1");
		await checkNotReloaded(bob);
	}, { live: true });

	await run("live_status", async () => {
		await go(alice, "people");
		await go(bob, "people");
		await Promise.all([waitLive(alice), waitLive(bob)]);
		await mark(alice);
		await bob.fill("#status-text", "coding live");
		await bob.click("#status-form button[type=submit]");
		await waitText(alice, '#people-list li[data-user="bob"] .status', "coding live");
		await checkNotReloaded(alice);
	}, { live: true });

	await run("live_vote", async () => {
		check(pollId, "no poll (poll_create_vote_rest failed)");
		await go(alice, "polls");
		await go(bob, "polls");
		await Promise.all([waitLive(alice), waitLive(bob)]);
		await Promise.all([mark(alice), mark(bob)]);
		await waitText(bob, `[data-poll="${pollId}"] h3`, "Été ou hiver ?");
		await bob.click(`[data-poll="${pollId}"] button[aria-label="Vote for hiver"]`);
		for (const p of [alice, bob]) {
			await waitText(p, `[data-poll="${pollId}"] [data-option="2"] .count`, "1 vote (50%)");
			await waitText(p, `[data-poll="${pollId}"] [data-option="1"] .count`, "1 vote (50%)");
			await checkNotReloaded(p);
		}
		const width = await alice.locator(`[data-poll="${pollId}"] [data-option="2"] .bar span`)
			.evaluate((e) => e.style.width);
		check(width === "50%", "alice's bar for hiver is " + width);
	}, { live: true });

	await run("live_topic_explorer", async () => {
		mosquittoPub(["-t", "test/retained", "-m", "kept", "-r"]);
		await go(alice, "topics");
		await alice.fill("#sub-filter", "test/#");
		await alice.click("#sub-form button[type=submit]");
		// Retained: arrives at subscription, flagged.
		await waitText(alice, "#topic-log li", "kept");
		const kept = alice.locator("#topic-log li", { hasText: "kept" });
		check(await kept.locator(".retain").count() === 1, "retained flag not shown");
		// Published while subscribed: JSON shown pretty-printed, QoS shown.
		mosquittoPub(["-t", "test/json", "-q", "1", "-m", '{"a":1,"b":[2]}']);
		await waitText(alice, "#topic-log li .payload", '"a": 1');
		const li = alice.locator("#topic-log li", { hasText: "test/json" });
		check((await li.textContent()).includes("QoS 1"), "QoS 1 not shown");
		// Not UTF-8 text: hex.
		mosquittoPub(["-t", "test/bin", "-s"], Buffer.from([0x00, 0x01, 0xff]));
		await waitText(alice, "#topic-log li .payload", "00 01 ff");
		// Publishing from the page.
		await alice.fill("#pub-topic", "test/from-page");
		await alice.fill("#pub-payload", "sent by the page");
		await alice.click("#pub-form button[type=submit]");
		await waitText(alice, "#topic-log li", "sent by the page");
	}, { live: true });

	await run("live_broker", async () => {
		await go(alice, "broker");
		await waitText(alice, '[data-sys="version"]', "agora");
		await waitText(alice, '[data-sys="uptime"]', "second");
		check(await alice.locator('a[href="/api/doc"]').count() === 1, "no link to /api/doc");
		check(await alice.locator('a[href="/metrics"]').count() === 1, "no link to /metrics");
	}, { live: true });

	// Screenshots of every panel at desktop and phone width, then the
	// README's. Not a test of their own: a failure here fails "screenshots".
	await run("screenshots", async () => {
		const dir = opt.shots;
		if (!dir)
			return;
		mkdirSync(dir, { recursive: true });
		const guest = await newPage(browser);
		for (const [size, vp] of [["desktop", DESKTOP], ["phone", PHONE]]) {
			await guest.setViewportSize(vp);
			await guest.goto(BASE + "/");
			await guest.screenshot({ path: `${dir}/login-${size}.png`, fullPage: true });
			await alice.setViewportSize(vp);
			for (const panel of ["people", "messages", "polls", "topics", "broker"]) {
				await go(alice, panel);
				await settled(alice);
				await alice.screenshot({ path: `${dir}/${panel}-${size}.png`, fullPage: true });
			}
		}
		// Nothing wider than the phone's screen (no sideways scrolling).
		await alice.setViewportSize(PHONE);
		for (const panel of ["people", "messages", "polls", "topics", "broker"]) {
			await go(alice, panel);
			const w = await alice.evaluate(() => document.documentElement.scrollWidth);
			check(w <= PHONE.width, `#${panel} is ${w}px wide at phone width`);
		}
		if (opt["readme-shot"]) {
			await alice.setViewportSize({ width: 1100, height: 720 });
			await go(alice, "polls");
			await settled(alice);
			await alice.screenshot({ path: opt["readme-shot"] });
		}
		await guest.context().close();
	});

	await browser.close();
}

main().catch((e) => {
	console.error(e);
	process.exit(2);
});
