// Executions: newest first, filtered by status, workflow and start time, paged with
// the API's page tokens, refreshed every few seconds while "Auto-refresh" is on.

import { api } from "../api.js";
import { elapsed, formatDuration, formatTime, h, hashQuery, pageTitle } from "../dom.js";
import { badge } from "../status.js";

const REFRESH_MS = 3000;
const PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;
const STATUSES = ["running", "completed", "failed", "cancelled", "timed_out", "terminated", "interrupted"];

function toIso(local) {
  // <input type="datetime-local"> gives local time without a zone; the API wants ISO.
  return local ? new Date(local).toISOString() : "";
}

export async function executionsView() {
  pageTitle("Executions");
  const root = document.getElementById("main");
  const query = hashQuery();
  const filters = {
    status: query.get("status") || "",
    workflow_id: query.get("workflow_id") || "",
    after: query.get("after") || "",
    before: query.get("before") || "",
  };
  // ?page_size= (1-100) in the URL, for long pages or a bookmark of a short one.
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Number(query.get("page_size")) || PAGE_SIZE));
  const tokens = [null]; // page tokens of the pages seen so far (for "Previous")
  let page = 0;
  let timer = null;
  let stopped = false;

  const statusSelect = h("select", { id: "f-status", name: "status" }, h("option", { value: "" }, "any"),
    STATUSES.map((status) => h("option", { value: status, selected: status === filters.status }, status.replace("_", " "))));
  const workflowInput = h("input", { id: "f-workflow", name: "workflow_id", value: filters.workflow_id, placeholder: "workflow id" });
  const afterInput = h("input", { id: "f-after", name: "after", type: "datetime-local", value: filters.after });
  const beforeInput = h("input", { id: "f-before", name: "before", type: "datetime-local", value: filters.before });
  const auto = h("input", { id: "f-auto", type: "checkbox", checked: true });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter executions" },
    h("label", { for: "f-status" }, "Status"), statusSelect,
    h("label", { for: "f-workflow" }, "Workflow"), workflowInput,
    h("label", { for: "f-after" }, "Started after"), afterInput,
    h("label", { for: "f-before" }, "Started before"), beforeInput,
    h("button", { type: "submit" }, "Apply"),
    h("span", { class: "auto" }, auto, h("label", { for: "f-auto" }, " Auto-refresh")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (statusSelect.value) params.set("status", statusSelect.value);
    if (workflowInput.value.trim()) params.set("workflow_id", workflowInput.value.trim());
    if (afterInput.value) params.set("after", afterInput.value);
    if (beforeInput.value) params.set("before", beforeInput.value);
    if (pageSize !== PAGE_SIZE) params.set("page_size", pageSize);
    const text = params.toString();
    location.hash = `#/executions${text ? `?${text}` : ""}`;
  });

  const table = h("div", { class: "table-wrap", "aria-live": "polite", "aria-busy": "true" });
  const previous = h("button", { type: "button", disabled: true }, "← Previous");
  const next = h("button", { type: "button", disabled: true }, "Next →");
  const pageLabel = h("span", { class: "muted" }, "Page 1");
  const updated = h("span", { class: "muted", id: "updated" }, "");
  previous.addEventListener("click", () => { if (page > 0) { page -= 1; load(); } });
  next.addEventListener("click", () => { page += 1; load(); });

  root.replaceChildren(h("h1", {}, "Executions"), form, table,
    h("div", { class: "pager" }, previous, pageLabel, next, updated));

  async function load() {
    clearTimeout(timer);
    let result;
    try {
      result = await api("/workflow/executions", {
        query: {
          status: filters.status, workflow_id: filters.workflow_id,
          started_after: toIso(filters.after), started_before: toIso(filters.before),
          page_size: pageSize, page_token: tokens[page],
        },
      });
    } catch (error) {
      table.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
      schedule();
      return;
    }
    if (stopped) return;
    tokens[page + 1] = result.next_page_token;
    tokens.length = page + 2;
    previous.disabled = page === 0;
    next.disabled = !result.next_page_token;
    pageLabel.textContent = `Page ${page + 1}`;
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    table.setAttribute("aria-busy", "false");
    table.replaceChildren(result.executions.length
      ? h("table", { class: "list executions" },
        h("caption", { class: "sr-only" }, "Executions, newest first"),
        h("thead", {}, h("tr", {}, ["Status", "Execution", "Workflow", "Started", "Duration"].map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, result.executions.map((run) => h("tr", { "data-execution-id": run.execution_id },
          h("td", {}, badge(run.status)),
          h("td", {}, h("a", { href: `#/executions/${encodeURIComponent(run.execution_id)}` }, run.execution_id)),
          h("td", {}, run.workflow_id
            ? h("a", { href: `#/workflows/${encodeURIComponent(run.workflow_id)}${run.version ? `?version=${run.version}` : ""}` },
              `${run.workflow_id}${run.version ? ` v${run.version}` : ""}`)
            : "—"),
          h("td", {}, formatTime(run.started_at)),
          h("td", {}, formatDuration(elapsed(run.started_at, run.finished_at))),
        ))))
      : h("p", { class: "empty" }, "No executions match."));
    schedule();
  }

  function schedule() {
    // Only the first page refreshes: later pages would shift under the reader.
    if (!stopped && auto.checked && page === 0) timer = setTimeout(load, REFRESH_MS);
  }
  auto.addEventListener("change", () => { clearTimeout(timer); schedule(); });

  await load();
  return () => { stopped = true; clearTimeout(timer); };
}
