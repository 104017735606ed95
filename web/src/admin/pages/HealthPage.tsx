// The operator's live view of the system: every service up or down, every queue's depth
// and consumers, and the messages that died (with a way to send them back once their
// cause is fixed). Refreshed every few seconds while the page is open.

import { useState } from "react";
import { request } from "../../shared/api";
import { ErrorNotice, SuccessNotice } from "../components/Notice";
import { ScrollTable } from "../components/ScrollTable";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime } from "../time";
import type { DeadLetterList, Replayed, SystemHealth } from "../types";
import { usePolling } from "../usePolling";

const REFRESH_MS = 3000;
const DEAD_LETTERS_SHOWN = 50;

export function HealthPage() {
  const health = usePolling(() => request<SystemHealth>("/admin/health"), REFRESH_MS);
  const deadLetters = usePolling(
    () => request<DeadLetterList>(`/admin/dead-letters?limit=${DEAD_LETTERS_SHOWN}`),
    REFRESH_MS,
  );
  const [replayed, setReplayed] = useState<Replayed | null>(null);
  const [replayError, setReplayError] = useState<unknown>(null);
  const [replaying, setReplaying] = useState(false);

  async function replay() {
    setReplaying(true);
    setReplayError(null);
    setReplayed(null);
    try {
      setReplayed(await request<Replayed>("/admin/dead-letters/replay", { method: "POST" }));
      await Promise.all([deadLetters.reload(), health.reload()]);
    } catch (failure) {
      setReplayError(failure);
    } finally {
      setReplaying(false);
    }
  }

  const system = health.data;
  const letters = deadLetters.data;
  const down = system?.services.filter((service) => service.status === "down") ?? [];

  return (
    <section aria-labelledby="health-title">
      <h2 id="health-title">Health</h2>
      <p className="muted">Refreshed every {REFRESH_MS / 1000} seconds.</p>
      <ErrorNotice error={health.error} />
      {!system && !health.error && <p className="loading">Asking every service…</p>}
      {system && (
        <>
          <p role="status" className={down.length ? "notice notice-error" : "notice notice-success"}>
            {down.length
              ? `Down: ${down.map((service) => service.name).join(", ")}.`
              : "Every service is up."}
          </p>
          <div className="two-columns">
            <section>
              <h3 id="services-title">Services</h3>
              <ScrollTable label="Services">
                <thead>
                  <tr>
                    <th scope="col">Service</th>
                    <th scope="col">Status</th>
                    <th scope="col">Answered in</th>
                    <th scope="col">Consumers</th>
                  </tr>
                </thead>
                <tbody>
                  {system.services.map((service) => (
                    <tr key={service.name} data-testid={`service-${service.name}`}>
                      <th scope="row">{service.name}</th>
                      <td>
                        <StatusBadge status={service.status} />
                      </td>
                      <td>{service.latency_ms === null ? "—" : `${service.latency_ms} ms`}</td>
                      <td>{service.consumers ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </ScrollTable>
            </section>
            <section>
              <h3 id="queues-title">Queues</h3>
              {system.queues_error && (
                <p className="notice notice-error">Queue facts are missing: {system.queues_error}</p>
              )}
              <ScrollTable label="Queues">
                <thead>
                  <tr>
                    <th scope="col">Queue</th>
                    <th scope="col">Messages</th>
                    <th scope="col">Consumers</th>
                  </tr>
                </thead>
                <tbody>
                  {system.queues.map((queue) => (
                    <tr key={queue.name}>
                      <th scope="row">{queue.name}</th>
                      <td>{queue.messages}</td>
                      <td>{queue.consumers}</td>
                    </tr>
                  ))}
                </tbody>
              </ScrollTable>
            </section>
          </div>
        </>
      )}
      <section className="card">
        <h3 id="dead-letters-title">
          Dead letters: <span data-testid="dead-letter-count">{letters?.total ?? system?.dead_letters ?? "…"}</span>
        </h3>
        <p className="muted">
          Messages a service could not handle. Replay sends every one back to the queue it
          died in; do it once the cause is fixed, or they die again.
        </p>
        <ErrorNotice error={deadLetters.error} />
        <div className="button-row">
          <button type="button" className="primary" onClick={replay} disabled={replaying || !letters?.total}>
            {replaying ? "Replaying…" : "Replay dead letters"}
          </button>
        </div>
        <ErrorNotice error={replayError} />
        <SuccessNotice>
          {replayed &&
            `Replayed ${replayed.replayed} dead letter${replayed.replayed === 1 ? "" : "s"}` +
              (replayed.kept ? `; ${replayed.kept} kept (their queue is gone).` : ".")}
        </SuccessNotice>
        {letters && letters.items.length > 0 && (
          <ScrollTable label="Dead letters">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Died in</th>
                <th scope="col">Reason</th>
                <th scope="col">When</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {letters.items.map((letter, index) => (
                <tr key={letter.id ?? `letter-${index}`}>
                  <td>{letter.type ?? "unknown"}</td>
                  <td>{letter.queue ?? "—"}</td>
                  <td>{letter.reason ?? "—"}</td>
                  <td>{formatTime(letter.died_at)}</td>
                  <td>
                    <code className="message-body">{letter.body}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </ScrollTable>
        )}
        {letters && letters.total > letters.items.length && (
          <p className="muted">The oldest {letters.items.length} of {letters.total} are shown.</p>
        )}
      </section>
    </section>
  );
}
