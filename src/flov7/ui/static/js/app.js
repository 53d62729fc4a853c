// The UI's router: #/workflows, #/workflows/{id}, #/executions, #/executions/{id}.
// Each view renders into <main> and returns a cleanup (streams, timers) run on leave.
// New screens (schedules, hooks, approvals) are one more entry in ROUTES.

import { showSession } from "./api.js";
import { h } from "./dom.js";
import { executionView } from "./views/execution.js";
import { executionsView } from "./views/executions.js";
import { workflowView, workflowsView } from "./views/workflows.js";

const ROUTES = [
  [/^#\/workflows\/?$/, () => workflowsView()],
  [/^#\/workflows\/([^/?]+)/, (match) => workflowView(decodeURIComponent(match[1]))],
  [/^#\/executions\/?(\?.*)?$/, () => executionsView()],
  [/^#\/executions\/([^/?]+)/, (match) => executionView(decodeURIComponent(match[1]))],
];

let cleanup = null;

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const hash = location.hash || "#/workflows";
  const main = document.getElementById("main");
  for (const link of document.querySelectorAll("nav a[data-nav]")) {
    if (hash.startsWith(`#/${link.dataset.nav}`)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, view] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    try {
      cleanup = (await view(match, main)) || null;
    } catch (error) {
      main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, String(error.message || error)));
    }
    return;
  }
  main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/workflows" }, "Go to the workflows")));
}

window.addEventListener("hashchange", route);
document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
showSession();
route();
