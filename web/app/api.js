// api.js - the REST API (docs/api.md) and the signed-in session. The token
// lives in sessionStorage: it survives a reload but not closing the tab, and
// other tabs of the same site do not share it.

const KEY = "agora.session";

export function loadSession() {
	try {
		const s = JSON.parse(sessionStorage.getItem(KEY));
		return s && s.name && s.token ? s : null;
	} catch {
		return null;
	}
}

export function saveSession(s) {
	if (s)
		sessionStorage.setItem(KEY, JSON.stringify({ name: s.name, token: s.token }));
	else
		sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

// api("POST", "/api/messages", {to, content}) -> the decoded answer, or
// throws ApiError with the server's {"error": {code, message}}.
export async function api(method, path, body) {
	const s = loadSession();
	const headers = {};
	if (s)
		headers.Authorization = "Bearer " + s.token;
	if (body !== undefined)
		headers["Content-Type"] = "application/json";
	const r = await fetch(path, {
		method, headers, body: body === undefined ? undefined : JSON.stringify(body),
	});
	if (r.status === 204)
		return null;
	const data = await r.json().catch(() => null);
	if (!r.ok) {
		const e = (data && data.error) || {};
		throw new ApiError(r.status, e.code || "error", e.message || "HTTP " + r.status);
	}
	return data;
}

// Every page of a list route: GET /api/users answers 100 at most at a time.
export async function apiAll(path, key) {
	const items = [];
	for (let offset = 0; ; offset += 100) {
		const sep = path.includes("?") ? "&" : "?";
		const page = await api("GET", `${path}${sep}limit=100&offset=${offset}`);
		items.push(...page[key]);
		if (page[key].length === 0 || items.length >= page.total)
			return items;
	}
}
