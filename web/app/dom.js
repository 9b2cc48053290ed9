// dom.js - building elements without HTML strings. Every piece of text,
// and above all text from other users, becomes a text node: nothing a user
// typed is ever parsed as markup.

// h("li", {class: "x", onclick: f}, "text", child) -> <li class="x">text…</li>
export function h(tag, props, ...children) {
	const el = document.createElement(tag);
	for (const [key, value] of Object.entries(props || {})) {
		if (value === undefined || value === null || value === false)
			continue;
		if (key.startsWith("on"))
			el.addEventListener(key.slice(2), value);
		else if (key === "class")
			el.className = value;
		else
			el.setAttribute(key, value === true ? "" : String(value));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

export const $ = (id) => document.getElementById(id);

// "2026-12-06T08:00:00.000Z" -> the reader's local date and time.
export function when(iso) {
	if (!iso)
		return "";
	const d = new Date(iso);
	return isNaN(d) ? String(iso) : d.toLocaleString();
}

// Shows an error from a failed action in an element with role="alert".
export function showError(el, err) {
	el.textContent = err ? String(err.message || err) : "";
}
