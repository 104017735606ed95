// One voting: its live results (asked for every second while the page is open; nothing
// pushes tallies to the admin), the CSV export, and what can still be changed about it.

import { Link, useParams } from "react-router";
import { request } from "../../shared/api";
import type { Results, VotingTile } from "../../shared/types";
import { CsvExportButton } from "../components/CsvExportButton";
import { ErrorNotice } from "../components/Notice";
import { ResultsChart } from "../components/ResultsChart";
import { ScrollTable } from "../components/ScrollTable";
import { StatusBadge } from "../components/StatusBadge";
import { VotingActions } from "../components/VotingActions";
import { formatTime } from "../time";
import { usePolling } from "../usePolling";

const RESULTS_MS = 1000;
const VOTING_MS = 3000;

export function VotingPage() {
  const { votingId = "" } = useParams();
  const id = encodeURIComponent(votingId);
  const voting = usePolling(() => request<VotingTile>(`/votings/${id}`), VOTING_MS, votingId);
  // A voting that is over has its final numbers: no need to keep asking.
  const over = voting.data?.status === "closed" || voting.data?.status === "cancelled";
  const results = usePolling(() => request<Results>(`/votings/${id}/results`), RESULTS_MS, votingId, !over);
  const tile = voting.data;

  return (
    <section aria-labelledby="voting-title">
      <p>
        <Link to="/admin/votings">← All votings</Link>
      </p>
      <ErrorNotice error={voting.error} />
      {!tile && !voting.error && <p className="loading">Loading the voting…</p>}
      {tile && (
        <>
          <h2 id="voting-title">
            {tile.title} <StatusBadge status={tile.status} />
          </h2>
          {tile.description && <p>{tile.description}</p>}
          <dl className="facts">
            <div>
              <dt>Opens</dt>
              <dd>{formatTime(tile.opens_at)}</dd>
            </div>
            <div>
              <dt>Closes</dt>
              <dd>{formatTime(tile.closes_at)}</dd>
            </div>
            {tile.closed_at && (
              <div>
                <dt>Closed early</dt>
                <dd>{formatTime(tile.closed_at)}</dd>
              </div>
            )}
            <div>
              <dt>Kind</dt>
              <dd>{tile.kind === "paid" ? `paid, ${tile.cost} credit(s) a vote` : "free"}</dd>
            </div>
          </dl>
          <div className="two-columns">
            <section className="card">
              <h3 id="results-title">Results{over ? "" : " (live)"}</h3>
              <ErrorNotice error={results.error} />
              {results.data && <LiveResults results={results.data} />}
              <CsvExportButton votingId={votingId} />
            </section>
            <section>
              <h3 id="actions-title">Manage</h3>
              <VotingActions voting={tile} onChanged={() => void voting.reload().then(results.reload)} />
            </section>
          </div>
        </>
      )}
    </section>
  );
}

function LiveResults({ results }: { results: Results }) {
  const share = (votes: number) => (results.total ? `${Math.round((votes / results.total) * 100)} %` : "—");
  return (
    <>
      {/* A live region: screen readers hear the total change as votes come in. */}
      <p className="total" aria-live="polite">
        Total votes: <strong data-testid="results-total">{results.total}</strong>
      </p>
      <ResultsChart results={results} />
      <ScrollTable label="Votes per option">
        <thead>
          <tr>
            <th scope="col">Option</th>
            <th scope="col">Votes</th>
            <th scope="col">Share</th>
          </tr>
        </thead>
        <tbody>
          {results.options.map((option) => (
            <tr key={option.id}>
              <td>{option.label}</td>
              <td>{option.votes}</td>
              <td>{share(option.votes)}</td>
            </tr>
          ))}
        </tbody>
      </ScrollTable>
    </>
  );
}
