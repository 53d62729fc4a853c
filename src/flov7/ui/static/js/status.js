// Status badges: every status is shown by an icon AND a word AND a colour, so it reads
// without colour vision and in high-contrast modes.

import { h } from "./dom.js";

export const STATUS_ICONS = {
  pending: "○",
  running: "◔",
  waiting: "⏸",
  completed: "✓",
  failed: "✗",
  skipped: "↷",
  cancelled: "⊘",
  timed_out: "⌛",
  terminated: "■",
  interrupted: "⚠",
};

export function statusIcon(status) {
  return STATUS_ICONS[status] || "?";
}

export function statusText(status) {
  return (status || "unknown").replace("_", " ");
}

/** <span class="badge status-completed"><span aria-hidden>✓</span> completed</span> */
export function badge(status) {
  const value = status || "unknown";
  return h(
    "span",
    { class: `badge status-${value}`, "data-status": value },
    h("span", { class: "icon", "aria-hidden": "true" }, statusIcon(value)),
    " ",
    h("span", { class: "text" }, statusText(value)),
  );
}

// Node type icons; an unknown (newer) type still shows, with a generic icon.
export const TYPE_ICONS = {
  api_call: "⇄",
  condition: "◇",
  transform: "ƒ",
  delay: "◷",
  database: "⛁",
  webhook: "↗",
  ai_agent: "✦",
};

export function typeIcon(type) {
  return TYPE_ICONS[type] || "▣";
}
