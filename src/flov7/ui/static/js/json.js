// JSON as a collapsible tree (native <details>: keyboard and screen-reader friendly)
// and a line diff of two JSON documents.

import { h } from "./dom.js";

const OPEN_DEPTH = 2;
const CONTEXT = 3;
const MAX_CHILDREN = 500;

/** A collapsible tree of any JSON value. */
export function jsonTree(value, { label = null, depth = 0 } = {}) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    const summaryText = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    const details = h(
      "details",
      { class: "json-node", open: depth < OPEN_DEPTH },
      h("summary", {}, label !== null ? h("span", { class: "json-key" }, `${label}: `) : null,
        h("span", { class: "json-count" }, summaryText)),
    );
    const list = h("ul", { class: "json-children" });
    // Very long arrays and objects show their first MAX_CHILDREN entries: a browser
    // tab should not build a million elements for one output.
    for (const [key, item] of entries.slice(0, MAX_CHILDREN)) list.append(h("li", {}, jsonTree(item, { label: key, depth: depth + 1 })));
    if (entries.length > MAX_CHILDREN) list.append(h("li", { class: "muted" }, `… ${entries.length - MAX_CHILDREN} more (see the API for all)`));
    details.append(list);
    return details;
  }
  const kind = value === null ? "null" : typeof value;
  return h(
    "span",
    { class: "json-leaf" },
    label !== null ? h("span", { class: "json-key" }, `${label}: `) : null,
    h("span", { class: `json-${kind}` }, JSON.stringify(value)),
  );
}

/** A tree inside a labelled block; "none" for undefined/null. */
export function jsonBlock(title, value) {
  const block = h("section", { class: "json-block", "aria-label": title }, h("h4", {}, title));
  block.append(value === undefined || value === null ? h("p", { class: "muted" }, "none") : h("div", { class: "json-tree" }, jsonTree(value)));
  return block;
}

/** Pretty JSON with sorted keys: equal documents give equal text. */
export function canonical(value) {
  const sort = (item) => {
    if (Array.isArray(item)) return item.map(sort);
    if (item && typeof item === "object") {
      return Object.fromEntries(Object.keys(item).sort().map((key) => [key, sort(item[key])]));
    }
    return item;
  };
  return JSON.stringify(sort(value), null, 2);
}

/** Line diff (longest common subsequence) of two documents: [{op: " "|"-"|"+", line}]. */
export function diffLines(before, after) {
  const a = canonical(before).split("\n");
  const b = canonical(after).split("\n");
  if (a.length * b.length > 4_000_000) {
    return [...a.map((line) => ({ op: "-", line })), ...b.map((line) => ({ op: "+", line }))];
  }
  const rows = a.length + 1;
  const cols = b.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * cols + j] = a[i] === b[j]
        ? table[(i + 1) * cols + j + 1] + 1
        : Math.max(table[(i + 1) * cols + j], table[i * cols + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { out.push({ op: " ", line: a[i] }); i++; j++; }
    else if (table[(i + 1) * cols + j] >= table[i * cols + j + 1]) out.push({ op: "-", line: a[i++] });
    else out.push({ op: "+", line: b[j++] });
  }
  while (i < a.length) out.push({ op: "-", line: a[i++] });
  while (j < b.length) out.push({ op: "+", line: b[j++] });
  return out;
}

/** The diff as a <pre>, added and removed lines marked by sign, class and colour. */
export function diffView(before, after) {
  const lines = diffLines(before, after);
  const changed = lines.filter((line) => line.op !== " ").length;
  const pre = h("pre", { class: "diff", "aria-label": `${changed} changed lines` });
  // Show changes with CONTEXT unchanged lines around them; longer unchanged runs fold.
  const near = lines.map(() => false);
  lines.forEach(({ op }, index) => {
    if (op === " ") return;
    for (let k = Math.max(0, index - CONTEXT); k <= Math.min(lines.length - 1, index + CONTEXT); k++) near[k] = true;
  });
  let folded = 0;
  const flush = () => {
    if (folded) pre.append(h("span", { class: "diff-line diff-fold" }, `  … ${folded} unchanged line${folded > 1 ? "s" : ""}`), "\n");
    folded = 0;
  };
  lines.forEach(({ op, line }, index) => {
    if (!near[index]) { folded += 1; return; }
    flush();
    const kind = op === "+" ? "added" : op === "-" ? "removed" : "same";
    pre.append(h("span", { class: `diff-line diff-${kind}` }, `${op} ${line}`), "\n");
  });
  flush();
  if (!changed) pre.prepend(h("span", { class: "diff-line" }, "The two versions are the same."), "\n");
  return pre;
}
