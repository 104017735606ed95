// Every voting with its status, the most pressing first, and the form to schedule another. The list
// is asked for again every few seconds: statuses change on their own as windows open.

import { useState } from "react";
import { Link } from "react-router";
import { request } from "../../shared/api";
import type { VotingStatus, VotingTile } from "../../shared/types";
import { CreateVotingForm } from "../components/CreateVotingForm";
import { ErrorNotice, SuccessNotice } from "../components/Notice";
import { ScrollTable } from "../components/ScrollTable";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime } from "../time";
import { usePolling } from "../usePolling";

const REFRESH_MS = 3000;

// What needs the operator's eye comes first: open votings (closing soonest first), then
// those about to open, then the past ones (latest first).
const STATUS_ORDER: Record<VotingStatus, number> = { open: 0, scheduled: 1, closed: 2, cancelled: 2 };

// Times come with the offset they were given in, so they are compared as instants.
const at = (iso: string) => Date.parse(iso);

function byUrgency(a: VotingTile, b: VotingTile): number {
  const group = STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
  if (group) return group;
  if (a.status === "open") return at(a.closes_at) - at(b.closes_at);
  if (a.status === "scheduled") return at(a.opens_at) - at(b.opens_at);
  return at(b.opens_at) - at(a.opens_at);
}

export function VotingsPage() {
  const [status, setStatus] = useState<VotingStatus | "">("");
  const [created, setCreated] = useState<VotingTile | null>(null);
  const votings = usePolling(
    () => request<VotingTile[]>(status ? `/votings?status=${status}` : "/votings"),
    REFRESH_MS,
    status,
  );
  const sorted = [...(votings.data ?? [])].sort(byUrgency);

  return (
    <section aria-labelledby="votings-title">
      <h2 id="votings-title">Votings</h2>
      <div className="two-columns">
        <div>
          <div className="toolbar">
            <label>
              Show{" "}
              <select value={status} onChange={(e) => setStatus(e.target.value as VotingStatus | "")}>
                <option value="">all votings</option>
                <option value="open">open</option>
                <option value="scheduled">scheduled</option>
                <option value="closed">closed</option>
                <option value="cancelled">cancelled</option>
              </select>
            </label>
          </div>
          <ErrorNotice error={votings.error} />
          {votings.data === null && !votings.error && <p className="loading">Loading votings…</p>}
          {votings.data?.length === 0 && <p>No votings yet.</p>}
          {sorted.length > 0 && (
            <ScrollTable label="Votings list">
              <thead>
                <tr>
                  <th scope="col">Title</th>
                  <th scope="col">Status</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Opens</th>
                  <th scope="col">Closes</th>
                </tr>
              </thead>
              <tbody>
                {sorted.map((voting) => (
                  <tr key={voting.id}>
                    <td>
                      <Link to={`/admin/votings/${voting.id}`}>{voting.title}</Link>
                    </td>
                    <td>
                      <StatusBadge status={voting.status} />
                    </td>
                    <td>{voting.kind === "paid" ? `paid (${voting.cost})` : "free"}</td>
                    <td>{formatTime(voting.opens_at)}</td>
                    <td>{formatTime(voting.closes_at)}</td>
                  </tr>
                ))}
              </tbody>
            </ScrollTable>
          )}
        </div>
        <div>
          <SuccessNotice>
            {created && (
              <>
                Scheduled “{created.title}”.{" "}
                <Link to={`/admin/votings/${created.id}`}>Open its page</Link>
              </>
            )}
          </SuccessNotice>
          <CreateVotingForm
            onCreated={(voting) => {
              setCreated(voting);
              void votings.reload();
            }}
          />
        </div>
      </div>
    </section>
  );
}
