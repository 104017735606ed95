import { useState } from "react";
import type { ReactNode } from "react";
import { request } from "../../shared/api";
import type { Results as ResultsOut } from "../../shared/types";
import { genericProblem } from "../explain";
import type { Problem } from "../explain";
import { ProblemMessage } from "./ProblemMessage";

interface Props {
  votingId: string;
  mine: string | null;
  /** Shown until the results replace it: the plain list of options. */
  children: ReactNode;
}

/** A closed voting's tallies, asked for when the voter wants them (everyone may, after close). */
export function Results({ votingId, mine, children }: Props) {
  const [results, setResults] = useState<ResultsOut | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);

  const load = async () => {
    setBusy(true);
    setProblem(null);
    try {
      setResults(await request<ResultsOut>(`/votings/${encodeURIComponent(votingId)}/results`));
    } catch (error) {
      setProblem(genericProblem(error, "Loading the results"));
    } finally {
      setBusy(false);
    }
  };

  if (!results) {
    return (
      <div className="results-ask">
        {children}
        <button type="button" className="button-quiet" onClick={() => void load()} disabled={busy}>
          {busy ? "Loading results…" : "See the results"}
        </button>
        {problem && <ProblemMessage problem={problem} />}
      </div>
    );
  }
  return (
    <div className="results">
      <p className="results-total">
        {results.total} {results.total === 1 ? "vote" : "votes"} counted
      </p>
      <ul className="results-list" aria-label="Results">
        {results.options.map((option) => {
          const share = results.total ? Math.round((option.votes / results.total) * 100) : 0;
          return (
            <li key={option.id} className={option.id === mine ? "result result-mine" : "result"}>
              <span className="result-label">
                {option.label}
                {option.id === mine && " (your vote)"}
              </span>
              <span className="result-votes">
                {option.votes} · {share}%
              </span>
              {/* Decorative: the numbers beside it say the same. */}
              <span className="result-track" aria-hidden="true">
                <span className="result-bar" style={{ width: `${share}%` }} />
              </span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
