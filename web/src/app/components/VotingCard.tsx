import { useId, useState } from "react";
import type { FormEvent } from "react";
import { request } from "../../shared/api";
import type { VotingTile } from "../../shared/types";
import { genericProblem } from "../explain";
import type { Problem } from "../explain";
import { formatCredits, formatWindow } from "../format";
import { useVote } from "../hooks/useVote";
import { Countdown } from "./Countdown";
import { ProblemMessage } from "./ProblemMessage";
import { Results } from "./Results";
import { StatusBadge } from "./StatusBadge";

interface Props {
  voting: VotingTile;
  now: number;
  /** Something changed on the server (a vote, a registration): the list should reload. */
  onChanged: () => void;
}

/** One voting as a tile: what it is, when, its state, and registering and voting. */
export function VotingCard({ voting, now, onChanged }: Props) {
  const titleId = useId();
  const labelOf = (optionId: string) =>
    voting.options.find((option) => option.id === optionId)?.label ?? "your choice";

  return (
    <article className={`tile tile-${voting.status}`} aria-labelledby={titleId}>
      <div className="tile-head">
        <h3 id={titleId}>{voting.title}</h3>
        <StatusBadge status={voting.status} />
      </div>
      <p className={`kind kind-${voting.kind}`}>
        {voting.kind === "paid" ? `Paid · ${formatCredits(voting.cost)} per vote` : "Free"}
      </p>
      {voting.description && <p className="tile-description">{voting.description}</p>}
      <p className="tile-window">{formatWindow(voting.opens_at, voting.closed_at ?? voting.closes_at)}</p>
      {voting.closed_at && <p className="tile-closed-early">Closed early by the organiser</p>}
      <Countdown voting={voting} now={now} />
      <Registration voting={voting} onChanged={onChanged} />
      <Ballot voting={voting} labelOf={labelOf} onChanged={onChanged} />
    </article>
  );
}

function Registration({ voting, onChanged }: { voting: VotingTile; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const canRegister = voting.status === "scheduled" || voting.status === "open";

  if (voting.registered) return <p className="registered">✓ You are registered</p>;
  if (!canRegister) return null;

  const register = async () => {
    setBusy(true);
    setProblem(null);
    try {
      await request(`/votings/${encodeURIComponent(voting.id)}/registration`, { method: "POST" });
      onChanged();
    } catch (error) {
      setProblem(genericProblem(error, "Registering"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="registration">
      <button type="button" className="button-secondary" onClick={register} disabled={busy}>
        {busy ? "Registering…" : "Register"}
        <span className="visually-hidden"> for {voting.title}</span>
      </button>
      {problem && <ProblemMessage problem={problem} />}
    </div>
  );
}

interface BallotProps {
  voting: VotingTile;
  labelOf: (optionId: string) => string;
  onChanged: () => void;
}

/** The options; a form to vote while the voting is open and the voter has not voted. */
function Ballot({ voting, labelOf, onChanged }: BallotProps) {
  const { outcome, busy, cast } = useVote(voting, onChanged);
  const [choice, setChoice] = useState<string>("");
  const [missingChoice, setMissingChoice] = useState(false);
  const name = useId();

  const mine = voting.my_vote && voting.my_vote.status !== "rejected" ? voting.my_vote : null;
  // A vote just cast (or its outcome) is shown over the list's older view of it.
  const counted = outcome?.kind === "confirmed" ? outcome.optionId : null;
  const pending = outcome?.kind === "pending" ? outcome.optionId : null;
  const voted = counted ?? pending ?? mine?.option_id ?? null;
  const canVote = voting.status === "open" && voted === null;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!choice) {
      setMissingChoice(true);
      return;
    }
    setMissingChoice(false);
    void cast(choice);
  };

  return (
    <div className="ballot">
      {canVote ? (
        <form onSubmit={submit} noValidate>
          <fieldset disabled={busy}>
            <legend>Your choice</legend>
            {voting.options.map((option) => (
              <label className="option" key={option.id}>
                <input
                  type="radio"
                  name={name}
                  value={option.id}
                  checked={choice === option.id}
                  onChange={() => setChoice(option.id)}
                />
                <span>{option.label}</span>
              </label>
            ))}
          </fieldset>
          {missingChoice && (
            <p className="message message-error" role="alert">
              Choose an option first.
            </p>
          )}
          <button type="submit" className="button-primary" disabled={busy}>
            {busy ? "Sending…" : voting.kind === "paid" ? `Vote (${formatCredits(voting.cost)})` : "Vote"}
            <span className="visually-hidden"> in {voting.title}</span>
          </button>
        </form>
      ) : voting.status === "closed" ? (
        <Results votingId={voting.id} mine={voted}>
          <OptionList voting={voting} voted={voted} />
        </Results>
      ) : (
        <OptionList voting={voting} voted={voted} />
      )}
      <div role="status" className="vote-status">
        {counted !== null ? (
          <p className="message message-success">✓ Your vote for {labelOf(counted)} is counted.</p>
        ) : pending !== null || mine?.status === "pending" ? (
          <p className="message message-pending">
            Your vote for {labelOf(pending ?? mine?.option_id ?? "")} is pending: we are confirming
            it and taking the credit…
          </p>
        ) : mine ? (
          <p className="message message-success">✓ You voted for {labelOf(mine.option_id)}.</p>
        ) : null}
      </div>
      {outcome?.kind === "problem" && <ProblemMessage problem={outcome.problem} />}
    </div>
  );
}

/** The options as plain text, the voter's own marked. */
function OptionList({ voting, voted }: { voting: VotingTile; voted: string | null }) {
  return (
    <ul className="options" aria-label="Options">
      {voting.options.map((option) => (
        <li key={option.id} className={option.id === voted ? "option-mine" : undefined}>
          {option.label}
          {option.id === voted && <span className="visually-hidden"> (your vote)</span>}
        </li>
      ))}
    </ul>
  );
}
