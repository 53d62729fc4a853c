// Follow a run live: the Server-Sent Events of /workflow/stream/{id}, read with fetch
// (EventSource cannot send an Authorization header, and the key never goes in a URL);
// when the stream drops before the run closes, poll the status route instead.

import { API, api, authHeaders } from "./api.js";

const POLL_MS = 1000;

/** Parse a text/event-stream body into {event, data} objects. */
async function* events(response, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

/**
 * Call onStatus(status) with the run's status whenever it changes, until it closes.
 * Returns stop(). onMode("stream" | "polling") says how the page is being updated.
 */
export function follow(executionId, { onStatus, onMode = () => {} }) {
  const controller = new AbortController();
  const { signal } = controller;
  const path = `/workflow/stream/${encodeURIComponent(executionId)}`;

  async function poll() {
    onMode("polling");
    while (!signal.aborted) {
      try {
        const status = await api(`/workflow/status/${encodeURIComponent(executionId)}`);
        if (signal.aborted) return;
        onStatus(status);
        if (status.finished_at || isFinal(status.status)) return;
      } catch (error) {
        if (error.status === 404) return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function stream() {
    let closed = false;
    try {
      const response = await fetch(`${API}${path}`, {
        headers: authHeaders({ Accept: "text/event-stream" }),
        signal,
      });
      if (!response.ok) throw new Error(`stream answered ${response.status}`);
      onMode("stream");
      for await (const { event, data } of events(response, signal)) {
        if (event === "status") onStatus(data);
        if (event === "end") closed = true;
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    if (!closed && !signal.aborted) await poll();
  }

  stream();
  return () => controller.abort();
}

export const FINAL = new Set([
  "completed", "failed", "cancelled", "timed_out", "terminated", "interrupted",
]);

export function isFinal(status) {
  return FINAL.has(status);
}
