// Small DOM helpers: elements are built with h(), never from HTML strings, so text
// from runs (outputs, errors, names) can never become markup.

/** h("a", {href: "#/x", class: "btn"}, "text", child...) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element, like h(). */
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** A short message in the live region (read out by screen readers). */
export function toast(message, kind = "info") {
  const region = document.getElementById("toast");
  region.textContent = message;
  region.dataset.kind = kind;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { region.textContent = ""; }, 6000);
}

/** "1.2 s", "340 ms", "3 min 4 s". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds % 60)} s`;
}

/** A local date and time for an ISO timestamp. */
export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Milliseconds between two ISO timestamps (to now while the second is missing). */
export function elapsed(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? Date.parse(endIso) : Date.now();
  return end - Date.parse(startIso);
}

/** The route's query (#/path?a=1) as URLSearchParams. */
export function hashQuery() {
  const hash = location.hash;
  const index = hash.indexOf("?");
  return new URLSearchParams(index >= 0 ? hash.slice(index + 1) : "");
}

/** Set the page's title and heading focus after navigation (screen readers, keyboard). */
export function pageTitle(text) {
  document.title = `${text} · Flov7`;
}
