// Workflows: the stored workflows, and one workflow with its graph, its document, its
// versions (with a diff of two) and a "Run" form prefilled from the document's input.

import { api } from "../api.js";
import { formatTime, h, hashQuery, pageTitle, toast } from "../dom.js";
import { renderGraph } from "../graph.js";
import { diffView, jsonBlock, jsonTree } from "../json.js";

const main = () => document.getElementById("main");

export async function workflowsView() {
  pageTitle("Workflows");
  const root = main();
  root.replaceChildren(h("h1", {}, "Workflows"), h("p", { class: "muted" }, "Loading…"));
  const rows = [];
  let token = null;
  // Stored workflows are few; read every page (100 each) so the list is complete.
  do {
    const page = await api("/workflows", { query: { page_size: 100, page_token: token } });
    rows.push(...page.workflows);
    token = page.next_page_token;
  } while (token);
  const body = rows.length
    ? h("div", { class: "table-wrap" }, h("table", { class: "list" },
      h("caption", { class: "sr-only" }, "Stored workflows"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Workflow"), h("th", { scope: "col" }, "Id"),
        h("th", { scope: "col" }, "Version"), h("th", { scope: "col" }, "Updated"), h("th", { scope: "col" }, "Runs"))),
      h("tbody", {}, rows.map((workflow) => h("tr", {},
        h("td", {}, h("a", { href: `#/workflows/${encodeURIComponent(workflow.id)}` }, workflow.name || workflow.id)),
        h("td", {}, h("code", {}, workflow.id)),
        h("td", {}, `v${workflow.current_version}`),
        h("td", {}, formatTime(workflow.updated_at)),
        h("td", {}, h("a", { href: `#/executions?workflow_id=${encodeURIComponent(workflow.id)}` }, "Executions")),
      )))))
    : h("div", { class: "empty" },
      h("p", {}, "No stored workflows yet."),
      h("p", {}, "Store one with ", h("code", {}, "POST /api/v1/workflows"), " (see ", h("a", { href: "/docs" }, "/docs"), ")."));
  root.replaceChildren(h("h1", {}, "Workflows"), body, storeForm());
}

/** "Store a workflow": paste a document; it is validated and stored as version 1. */
function storeForm() {
  const editor = h("textarea", { id: "new-document", rows: 10, class: "code", spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "panel store-form" },
    h("label", { for: "new-document" }, "Workflow document (JSON, e.g. a file of examples/)"),
    editor, error, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Store workflow")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const stored = await api("/workflows", { method: "POST", body: { document: parseObject(editor.value) } });
      location.hash = `#/workflows/${encodeURIComponent(stored.id)}`;
    } catch (problem) {
      error.textContent = describe(problem);
    }
  });
  return h("details", { class: "store" }, h("summary", {}, "Store a workflow"), form);
}

/** A JSON object from an editor, or an error saying what is wrong. */
function parseObject(text) {
  const value = JSON.parse(text || "{}");
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("Expected a JSON object");
  return value;
}

/** An error for a reader: the API's message, and a validation report's first issues. */
function describe(problem) {
  const issues = problem.details && Array.isArray(problem.details.issues) ? problem.details.issues : [];
  const listed = issues.slice(0, 3).map((issue) => issue.message || JSON.stringify(issue)).join("; ");
  return listed ? `${problem.message}: ${listed}` : problem.message;
}

export async function workflowView(workflowId) {
  const root = main();
  const query = hashQuery();
  const path = `/workflows/${encodeURIComponent(workflowId)}`;
  const workflow = await api(path);
  const versions = [];
  let token = null;
  do {
    const page = await api(`${path}/versions`, { query: { page_size: 100, page_token: token } });
    versions.push(...page.versions);
    token = page.next_page_token;
  } while (token);
  const current = Number(query.get("version")) || workflow.current_version;
  const shown = current === workflow.version
    ? workflow
    : await api(`${path}/versions/${current}`);
  const doc = shown.document || {};
  const name = workflow.name || workflow.id;
  pageTitle(name);

  const versionSelect = h("select", { id: "version", name: "version" },
    versions.map((v) => h("option", { value: v.version, selected: v.version === current },
      `v${v.version}${v.version === workflow.current_version ? " (current)" : ""} · ${formatTime(v.created_at)}`)));
  versionSelect.addEventListener("change", () => {
    location.hash = `#/workflows/${encodeURIComponent(workflowId)}?version=${versionSelect.value}`;
  });

  const compareSelect = h("select", { id: "compare", name: "compare" },
    h("option", { value: "" }, "— choose a version —"),
    versions.filter((v) => v.version !== current).map((v) => h("option", { value: v.version }, `v${v.version}`)));
  const diffArea = h("div", { class: "diff-area", "aria-live": "polite" });
  compareSelect.addEventListener("change", async () => {
    diffArea.replaceChildren();
    if (!compareSelect.value) return;
    const other = await api(`${path}/versions/${compareSelect.value}`);
    diffArea.append(h("h3", {}, `Changes from v${compareSelect.value} to v${current}`), diffView(other.document, doc));
  });

  // Selecting a node shows its config as written (templates unrendered) under the graph.
  const nodeInfo = h("div", { id: "node-info", "aria-live": "polite" },
    h("p", { class: "muted" }, "Select a node (click, or Tab to it and press Enter) to see its config."));
  let graph = null;
  const showNode = (nodeId) => {
    const spec = (doc.nodes || []).find((item) => item.id === nodeId) || {};
    graph.update(null, nodeId);
    nodeInfo.replaceChildren(
      h("h3", {}, (spec.data && spec.data.label) || nodeId),
      h("p", { class: "muted" }, h("code", {}, nodeId), ` · ${spec.type}`),
      jsonBlock("Config", spec.data || {}),
    );
  };
  graph = renderGraph(doc, { onSelect: showNode });
  const inputEditor = h("textarea", {
    id: "run-input", name: "input", rows: 8, spellcheck: "false", class: "code",
    "aria-describedby": "run-input-help",
  });
  inputEditor.value = JSON.stringify(doc.input ?? {}, null, 2);
  const runError = h("p", { class: "error", role: "alert" });
  const runForm = h("form", { class: "run-form", "aria-labelledby": "run-title" },
    h("h2", { id: "run-title" }, "Run"),
    h("label", { for: "run-input" }, "Input (JSON object)"),
    h("p", { id: "run-input-help", class: "muted" }, "Prefilled from the document's input."),
    inputEditor, runError,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "run-button" }, `Run v${current}`)));
  runForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    runError.textContent = "";
    let input;
    try {
      input = parseObject(inputEditor.value);
    } catch (error) {
      runError.textContent = `Invalid input: ${error.message}`;
      inputEditor.focus();
      return;
    }
    try {
      const started = await api(`${path}/execute`, { method: "POST", body: { input, version: current } });
      toast(`Started ${started.execution_id}`);
      location.hash = `#/executions/${encodeURIComponent(started.execution_id)}`;
    } catch (error) {
      runError.textContent = error.message;
    }
  });

  root.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/workflows" }, "Workflows"), " / ", h("span", {}, name)),
    h("h1", {}, name),
    h("p", { class: "description" }, workflow.description || doc.description || ""),
    h("div", { class: "toolbar" },
      h("label", { for: "version" }, "Version "), versionSelect,
      h("label", { for: "compare" }, " Compare with "), compareSelect,
      h("a", { class: "button", href: `#/executions?workflow_id=${encodeURIComponent(workflowId)}` }, "Executions")),
    diffArea,
    h("section", { class: "panel graph-panel", "aria-label": "Graph" }, h("h2", {}, "Graph"), h("div", { class: "graph-wrap" }, graph.element)),
    h("div", { class: "split even" },
      h("section", { class: "panel", "aria-label": "Node" }, h("h2", {}, "Node"), nodeInfo),
      h("section", { class: "panel", "aria-label": "Document" }, h("h2", {}, "Document"),
        h("div", { class: "json-tree doc-tree" }, jsonTree(doc)))),
    h("section", { class: "panel" }, runForm),
    newVersionForm(path, doc, workflow.current_version),
  );
}

/** "Save a new version": edit the document; stored as the next version (409 when
 * someone saved another version meanwhile). */
function newVersionForm(path, doc, currentVersion) {
  const editor = h("textarea", { id: "edit-document", rows: 14, class: "code", spellcheck: "false" });
  editor.value = JSON.stringify(doc, null, 2);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "panel" },
    h("label", { for: "edit-document" }, `Document (saved as v${currentVersion + 1})`),
    editor, error, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save new version")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const saved = await api(path, { method: "PUT", body: { document: parseObject(editor.value), expected_version: currentVersion } });
      toast(`Saved v${saved.current_version}`);
      location.hash = `#/workflows/${encodeURIComponent(saved.id)}?version=${saved.current_version}`;
    } catch (problem) {
      error.textContent = describe(problem);
    }
  });
  return h("details", { class: "store" }, h("summary", {}, "Edit the document (new version)"), form);
}
