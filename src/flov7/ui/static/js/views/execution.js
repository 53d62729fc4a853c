// One execution: the graph with each node's status (live while the run is open), a
// timeline bar per node attempt, a node panel (status, attempts, duration, worker,
// rendered input, output, error with cause) and the cancel / terminate actions.
// Extension point: more actions (rerun, send event, approve) go in actionButtons().

import { api } from "../api.js";
import { elapsed, formatDuration, formatTime, h, hashQuery, pageTitle, toast } from "../dom.js";
import { renderGraph } from "../graph.js";
import { jsonBlock, jsonTree } from "../json.js";
import { badge } from "../status.js";
import { follow, isFinal } from "../stream.js";

const TIMELINE_REFRESH_MS = 2000;
const TERMINAL_EVENTS = {
  completed: "completed", timer_fired: "completed", failed: "failed", timed_out: "failed",
  cancelled: "cancelled", skipped: "skipped",
};

/** The run's document: its stored version; for an inline run, the stored workflow of
 * the same id when it has exactly the run's nodes; else the run's nodes without edges.
 * (Extension point: an engine that keeps each run's document can answer it here.) */
async function runDocument(status) {
  if (status.workflow_id && status.version) {
    try {
      const version = await api(`/workflows/${encodeURIComponent(status.workflow_id)}/versions/${status.version}`);
      if (version.document) return { doc: version.document, stored: true, note: null };
    } catch (error) {
      // Not stored (any more): fall through.
    }
  }
  const runNodes = Object.keys(status.nodes || {}).sort();
  if (status.workflow_id && runNodes.length) {
    try {
      const workflow = await api(`/workflows/${encodeURIComponent(status.workflow_id)}`);
      const ids = (workflow.document.nodes || []).map((node) => node.id).sort();
      if (JSON.stringify(ids) === JSON.stringify(runNodes)) {
        return { doc: workflow.document, stored: true, note: `Inline run: drawn with the edges of the stored workflow ${workflow.id} v${workflow.version} (same nodes).` };
      }
    } catch (error) {
      // No stored workflow of that id.
    }
  }
  return { doc: inlineDocument(status), stored: false, note: "Inline document: nodes are shown without their edges." };
}

function inlineDocument(status) {
  const nodes = Object.entries(status.nodes || {}).map(([id, node]) => ({ id, type: node.type || "node" }));
  return { nodes, edges: [] };
}

/** Bars per node attempt, from the timeline entries (time order). */
export function attemptBars(events) {
  const bars = [];
  const open = new Map();
  for (const entry of events) {
    const id = entry.node_id;
    if (!id) continue;
    const time = Date.parse(entry.time);
    if (!open.has(id)) {
      const attempt = bars.filter((bar) => bar.node_id === id).length + 1;
      const bar = { node_id: id, attempt, start: time, end: null, status: "running" };
      bars.push(bar);
      open.set(id, bar);
    }
    const bar = open.get(id);
    if (entry.event === "attempt_failed") {
      bar.end = time;
      bar.status = "failed";
      bar.cause = entry.details && entry.details.cause;
      open.delete(id);
    } else if (TERMINAL_EVENTS[entry.event]) {
      bar.end = time;
      bar.status = TERMINAL_EVENTS[entry.event];
      open.delete(id);
    }
  }
  return bars;
}

function renderTimeline(container, events, status) {
  const bars = attemptBars(events);
  if (!bars.length) {
    container.replaceChildren(h("p", { class: "muted" }, "No timeline entries yet."));
    return;
  }
  const now = Date.now();
  const start = Math.min(...bars.map((bar) => bar.start), status.started_at ? Date.parse(status.started_at) : Infinity);
  const end = Math.max(...bars.map((bar) => bar.end ?? now), status.finished_at ? Date.parse(status.finished_at) : 0);
  const span = Math.max(1, end - start);
  const list = h("ol", { class: "timeline", "aria-label": "A bar per node attempt" });
  for (const bar of bars) {
    const barEnd = bar.end ?? now;
    const duration = barEnd - bar.start;
    const cause = bar.cause ? ` (${bar.cause.type || "error"}: ${bar.cause.message || ""})` : "";
    const fill = h("span", { class: `bar status-${bar.status}`, title: `${bar.node_id} attempt ${bar.attempt}: ${bar.status}${cause}, ${formatDuration(duration)}` });
    fill.style.left = `${((bar.start - start) / span) * 100}%`;
    fill.style.width = `max(3px, ${(duration / span) * 100}%)`;
    list.append(h("li", { class: "timeline-row", "data-node-id": bar.node_id },
      h("span", { class: "timeline-label" }, `${bar.node_id} #${bar.attempt}`),
      h("span", { class: "track" }, fill),
      h("span", { class: "timeline-time", title: cause.trim() || null }, `${bar.status} · ${formatDuration(duration)}`)));
  }
  container.replaceChildren(list, h("p", { class: "muted" }, `Run span: ${formatDuration(span)}`));
}

function errorBlock(error) {
  if (!error) return null;
  const cause = error.cause || (error.details && error.details.cause);
  return h("section", { class: "error-block", role: "alert", "aria-label": "Error" },
    h("h4", {}, "Error"),
    h("p", {}, h("strong", {}, error.type || "Error"), ": ", error.message || ""),
    cause ? h("p", { class: "cause" }, "Cause: ", h("strong", {}, cause.type || ""), " ", cause.message || JSON.stringify(cause)) : null,
    h("details", {}, h("summary", {}, "Full error"), h("div", { class: "json-tree" }, jsonTree(error))));
}

function nodePanel(nodeId, status, doc) {
  const node = (status.nodes || {})[nodeId] || {};
  const spec = (doc.nodes || []).find((item) => item.id === nodeId) || {};
  const result = status.result && status.result.node_results ? status.result.node_results[nodeId] || {} : {};
  const label = spec.data && spec.data.label ? spec.data.label : nodeId;
  const facts = [
    ["Status", badge(node.status || "pending")],
    ["Type", node.type || spec.type || "—"],
    ["Attempts", node.attempts ?? "—"],
    ["Duration", formatDuration(node.duration_ms ?? (node.started_at && !node.finished_at ? elapsed(node.started_at) : null))],
    ["Worker", node.worker || "—"],
    ["Started", formatTime(node.started_at)],
    ["Finished", formatTime(node.finished_at)],
  ];
  const closed = isFinal(status.status);
  return [
    h("h2", { id: "node-panel-title" }, label),
    h("p", { class: "muted" }, h("code", {}, nodeId)),
    h("dl", { class: "facts" }, facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    errorBlock(node.error || (result && result.error)),
    "input" in result
      ? jsonBlock("Input (rendered config)", result.input)
      : jsonBlock(closed ? "Config (document)" : "Config (document; rendered input shows when the run closes)", spec.data),
    closed
      ? jsonBlock("Output", result.output)
      : h("p", { class: "muted" }, "The output shows when the run closes."),
  ];
}

export async function executionView(executionId) {
  const root = document.getElementById("main");
  const path = encodeURIComponent(executionId);
  let status = await api(`/workflow/status/${path}`);
  let { doc, stored, note } = await runDocument(status);
  let selected = hashQuery().get("node");
  pageTitle(executionId);

  const statusSlot = h("span", { id: "run-status" });
  const mode = h("span", { class: "muted", id: "live-mode" });
  const summary = h("dl", { class: "facts inline" });
  const runError = h("div", { id: "run-error" });
  const panel = h("aside", { class: "panel node-panel", id: "node-panel", "aria-labelledby": "node-panel-title", tabindex: "-1" },
    h("h2", { id: "node-panel-title" }, "Node"), h("p", { class: "muted" }, "Select a node (click, or Tab to it and press Enter)."));
  const timeline = h("div", { id: "timeline" });
  const cancelButton = h("button", { type: "button", id: "cancel-run" }, "Cancel run");
  const terminateButton = h("button", { type: "button", id: "terminate-run", class: "danger" }, "Terminate");
  let graph = renderGraph(doc, { statuses: status.nodes, onSelect: select, selected });
  const graphWrap = h("div", { class: "graph-wrap" }, graph.element);

  function select(nodeId) {
    selected = nodeId;
    history.replaceState(null, "", `#/executions/${path}?node=${encodeURIComponent(nodeId)}`);
    graph.update(status.nodes, selected);
    panel.replaceChildren(...nodePanel(nodeId, status, doc).filter(Boolean));
  }

  async function stop(terminate) {
    if (terminate && !window.confirm("Terminate this run now? Nodes in flight are not cancelled.")) return;
    const action = terminate ? "terminate" : "cancel";
    try {
      await api(`/workflow/${action}/${path}`, { method: "POST", body: { reason: `${action} from the web UI` } });
      toast(terminate ? "Terminated" : "Cancel requested");
    } catch (error) {
      toast(error.message, "error");
    }
  }
  cancelButton.addEventListener("click", () => stop(false));
  terminateButton.addEventListener("click", () => stop(true));

  let lastTimeline = 0;
  let lastEvents = [];
  let timelineBusy = false;
  async function refreshTimeline(force = false) {
    if (timelineBusy || (!force && Date.now() - lastTimeline < TIMELINE_REFRESH_MS)) return;
    timelineBusy = true;
    try {
      const page = await api(`/workflow/history/${path}`, { query: { page_size: 1000 } });
      lastEvents = page.events || [];
      renderTimeline(timeline, lastEvents, status);
      lastTimeline = Date.now();
    } catch (error) {
      timeline.replaceChildren(h("p", { class: "error" }, `Timeline unavailable: ${error.message}`));
    } finally {
      timelineBusy = false;
    }
  }

  function show(next) {
    const wasFinal = isFinal(status.status);
    status = next;
    const closed = isFinal(status.status);
    statusSlot.replaceChildren(badge(status.status));
    summary.replaceChildren(...[
      ["Workflow", status.workflow_id
        ? h("a", { href: `#/workflows/${encodeURIComponent(status.workflow_id)}${status.version ? `?version=${status.version}` : ""}` },
          `${status.workflow_name || status.workflow_id}${status.version ? ` v${status.version}` : ""}`)
        : status.workflow_name || "inline document"],
      ["Engine", status.engine],
      ["Started", formatTime(status.started_at)],
      ["Duration", formatDuration(elapsed(status.started_at, status.finished_at))],
      ["Nodes", Object.entries(status.counts || {}).filter(([, count]) => count).map(([name, count]) => `${count} ${name}`).join(", ") || "—"],
    ].flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    if (status.reason && !closed) summary.append(h("dt", {}, "Waiting because"), h("dd", {}, status.reason));
    runError.replaceChildren(status.error && status.status !== "completed"
      ? h("div", { class: "run-error", role: "alert" },
        h("strong", {}, `Run ${status.status}`), status.error.node_id ? ` at node ${status.error.node_id}` : "", `: ${status.error.message || status.error.type || ""}`)
      : "");
    cancelButton.disabled = closed;
    terminateButton.disabled = closed;
    if (!stored && Object.keys(status.nodes || {}).length !== (doc.nodes || []).length) {
      doc = inlineDocument(status);
      graph = renderGraph(doc, { statuses: status.nodes, onSelect: select, selected });
      graphWrap.replaceChildren(graph.element);
    }
    if (!selected && status.status === "failed" && status.error && status.error.node_id) selected = status.error.node_id;
    graph.update(status.nodes, selected);
    if (selected) panel.replaceChildren(...nodePanel(selected, status, doc).filter(Boolean));
    if (closed) mode.textContent = "Closed";
    refreshTimeline(closed && !wasFinal);
  }

  root.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/executions" }, "Executions"), " / ", h("span", {}, executionId)),
    h("div", { class: "title-row" }, h("h1", {}, executionId), statusSlot, mode),
    h("div", { class: "actions run-actions" }, cancelButton, terminateButton),
    summary, runError,
    h("div", { class: "split run-split" },
      h("section", { class: "panel graph-panel", "aria-label": "Graph" }, h("h2", {}, "Graph"),
        note ? h("p", { class: "muted", id: "graph-note" }, note) : null, graphWrap),
      panel),
    h("section", { class: "panel", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), timeline),
  );
  show(status);
  await refreshTimeline(true);

  if (isFinal(status.status)) return null;
  const stopFollowing = follow(executionId, {
    onStatus: show,
    onMode: (how) => { if (!isFinal(status.status)) mode.textContent = how === "stream" ? "Live" : "Live (polling)"; },
  });
  // Open bars and the run's duration grow between two changes (a long timer sends none).
  const ticker = setInterval(() => {
    if (isFinal(status.status)) { clearInterval(ticker); return; }
    if (lastEvents.length) renderTimeline(timeline, lastEvents, status);
  }, 1000);
  return () => { clearInterval(ticker); stopFollowing(); };
}
