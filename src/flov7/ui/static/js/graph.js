// The workflow graph as SVG: the document's React-Flow positions when every node has
// one, else a layered layout (longest path from the roots, one column per layer).
// Nodes are focusable buttons (Tab / Enter / Space), their status shown by icon, text
// and colour; edges carry their true / false / error handle.

import { s } from "./dom.js";
import { statusIcon, statusText, typeIcon } from "./status.js";

const NODE_W = 190;
const NODE_H = 66;
const GAP_X = 80;
const GAP_Y = 34;
const PAD = 30;

/** {id: {x, y}} for every node of the document. */
export function layout(doc) {
  const nodes = doc.nodes || [];
  const positioned = nodes.length > 0 && nodes.every(
    (node) => node.position && Number.isFinite(node.position.x) && Number.isFinite(node.position.y),
  );
  if (positioned) {
    // React Flow's coordinates are for nodes about 150 px wide: spread them so that
    // our wider boxes do not overlap.
    const scale = 1.35;
    return Object.fromEntries(nodes.map((node) => [node.id, { x: node.position.x * scale, y: node.position.y * scale }]));
  }
  return layered(nodes, doc.edges || []);
}

/** Layer = longest path from a root; order within a layer = document order. */
export function layered(nodes, edges) {
  const ids = nodes.map((node) => node.id);
  const known = new Set(ids);
  const parents = new Map(ids.map((id) => [id, []]));
  for (const edge of edges) {
    if (known.has(edge.source) && known.has(edge.target)) parents.get(edge.target).push(edge.source);
  }
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0; // a cycle (invalid document): do not loop
    visiting.add(id);
    const value = Math.max(-1, ...parents.get(id).map(depth)) + 1;
    visiting.delete(id);
    layer.set(id, value);
    return value;
  };
  ids.forEach(depth);
  const columns = [];
  for (const id of ids) (columns[layer.get(id)] ||= []).push(id);
  const tallest = Math.max(1, ...columns.map((column) => (column || []).length));
  const positions = {};
  columns.forEach((column, x) => {
    const offset = ((tallest - column.length) * (NODE_H + GAP_Y)) / 2;
    column.forEach((id, y) => {
      positions[id] = { x: x * (NODE_W + GAP_X), y: offset + y * (NODE_H + GAP_Y) };
    });
  });
  return positions;
}

function nodeLabel(node) {
  const label = node.data && typeof node.data.label === "string" ? node.data.label : "";
  return label || node.id;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Render the graph. statuses: {node_id: {status, ...}} or null (a workflow, not a run).
 * onSelect(node_id) is called on click / Enter / Space. Returns {element, update}.
 */
export function renderGraph(doc, { statuses = null, onSelect = null, selected = null } = {}) {
  const nodes = doc.nodes || [];
  const positions = layout(doc);
  const xs = Object.values(positions).map((p) => p.x);
  const ys = Object.values(positions).map((p) => p.y);
  const minX = Math.min(0, ...xs) - PAD;
  const minY = Math.min(0, ...ys) - PAD;
  const width = Math.max(...xs, 0) + NODE_W + PAD - minX;
  const height = Math.max(...ys, 0) + NODE_H + PAD - minY;
  const svg = s("svg", {
    class: "graph",
    viewBox: `${minX} ${minY} ${width} ${height}`,
    role: "group",
    "aria-label": `Graph of ${nodes.length} nodes`,
    preserveAspectRatio: "xMidYMin meet",
  });
  // Fit the panel on wide screens; on narrow ones keep labels readable and let the
  // graph's own box scroll sideways (never the page).
  svg.style.maxWidth = `${Math.max(width, 320)}px`;
  svg.style.minWidth = `${Math.min(width, 560)}px`;
  svg.append(s("defs", {},
    s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));

  const edgeLayer = s("g", { class: "edges" });
  for (const edge of doc.edges || []) {
    const from = positions[edge.source];
    const to = positions[edge.target];
    if (!from || !to) continue;
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    const x2 = to.x;
    const y2 = to.y + NODE_H / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const handle = edge.sourceHandle || edge.source_handle || null;
    const group = s("g", { class: `edge${handle ? ` handle-${handle}` : ""}`, "data-edge-id": edge.id || "" });
    group.append(s("path", { d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)" }));
    if (handle) {
      const lx = (x1 + x2) / 2;
      const ly = (y1 + y2) / 2;
      group.append(s("rect", { x: lx - 22, y: ly - 10, width: 44, height: 18, rx: 9, class: "handle-pill" }),
        s("text", { x: lx, y: ly + 3, "text-anchor": "middle", class: "handle-label" }, handle));
    }
    edgeLayer.append(group);
  }
  svg.append(edgeLayer);

  const nodeLayer = s("g", { class: "nodes" });
  const groups = new Map();
  for (const node of nodes) {
    const p = positions[node.id];
    const label = nodeLabel(node);
    const group = s("g", {
      class: "node",
      transform: `translate(${p.x} ${p.y})`,
      "data-node-id": node.id,
      "data-type": node.type,
      tabindex: onSelect ? "0" : null,
      role: onSelect ? "button" : "img",
    });
    const title = s("title", {}, `${label} (${node.type})`);
    group.append(
      title,
      s("rect", { width: NODE_W, height: NODE_H, rx: 10, class: "node-box" }),
      s("text", { x: 14, y: 26, class: "node-type-icon", "aria-hidden": "true" }, typeIcon(node.type)),
      s("text", { x: 38, y: 24, class: "node-label" }, truncate(label, 20)),
      s("text", { x: 38, y: 41, class: "node-meta" }, truncate(`${node.type} · ${node.id}`, 26)),
      s("text", { x: 38, y: 57, class: "node-status" }, ""),
    );
    if (onSelect) {
      group.addEventListener("click", () => onSelect(node.id));
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          onSelect(node.id);
        }
      });
    }
    groups.set(node.id, { group, title, label, node });
    nodeLayer.append(group);
  }
  svg.append(nodeLayer);

  /** Show each node's status (icon + text + colour) and which node is selected. */
  function update(newStatuses, newSelected) {
    for (const [id, { group, title, label, node }] of groups) {
      const status = newStatuses ? (newStatuses[id] && newStatuses[id].status) || "pending" : null;
      const text = group.querySelector(".node-status");
      if (status) {
        group.setAttribute("data-status", status);
        group.setAttribute("class", `node status-${status}${id === newSelected ? " selected" : ""}`);
        text.textContent = `${statusIcon(status)} ${statusText(status)}`;
        group.setAttribute("aria-label", `${label}, ${node.type}, ${statusText(status)}`);
        title.textContent = `${label} (${node.type}): ${statusText(status)}`;
      } else {
        group.setAttribute("class", `node${id === newSelected ? " selected" : ""}`);
        text.textContent = "";
        group.setAttribute("aria-label", `${label}, ${node.type}`);
      }
      if (id === newSelected) group.setAttribute("aria-pressed", "true");
      else if (onSelect) group.setAttribute("aria-pressed", "false");
    }
  }
  update(statuses, selected);
  return { element: svg, update };
}
