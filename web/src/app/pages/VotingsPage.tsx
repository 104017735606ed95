import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { request } from "../../shared/api";
import { useSession } from "../../shared/session";
import type { VotingTile } from "../../shared/types";
import { VotingCard } from "../components/VotingCard";
import { hasPassed } from "../format";
import { useNow } from "../hooks/useNow";
import { usePolling } from "../hooks/usePolling";

// Nothing pushes a voting opening or closing, so the list is asked for again regularly,
// and every second while a countdown has run out and the server has not caught up yet.
const POLL_MS = 4000;
const CATCH_UP_MS = 1000;
// Past votings pile up over the weeks: those the voter took part in (to see how they
// ended) and the latest few others; the rest on request.
const PAST_SHOWN = 6;

const tookPart = (voting: VotingTile) =>
  voting.registered || (voting.my_vote !== null && voting.my_vote.status !== "rejected");

/** The past votings to show: the voter's own, then the latest others up to the limit. */
function pastShown(past: VotingTile[]): VotingTile[] {
  let others = 0;
  return past.filter((voting) => tookPart(voting) || others++ < PAST_SHOWN);
}

const isDue = (voting: VotingTile, now: number) =>
  (voting.status === "scheduled" && hasPassed(voting.opens_at, now)) ||
  (voting.status === "open" && hasPassed(voting.closes_at, now));

export function VotingsPage() {
  const now = useNow();
  const { profile, refresh } = useSession();
  const load = useCallback(() => request<VotingTile[]>("/votings"), []);
  const [catchingUp, setCatchingUp] = useState(false);
  const [allPast, setAllPast] = useState(false);
  const polled = usePolling(load, catchingUp ? CATCH_UP_MS : POLL_MS);
  const votings = polled.data;
  const due = (votings ?? []).some((voting) => isDue(voting, now));
  useEffect(() => setCatchingUp(due), [due]);

  const changed = useCallback(() => {
    void polled.reload();
    // A paid vote moves credits: the header shows the balance.
    void refresh().catch(() => undefined);
  }, [polled, refresh]);

  const open = votings?.filter((v) => v.status === "open") ?? [];
  const upcoming = votings?.filter((v) => v.status === "scheduled") ?? [];
  const past = (votings?.filter((v) => v.status === "closed" || v.status === "cancelled") ?? [])
    .sort((a, b) => Date.parse(b.closes_at) - Date.parse(a.closes_at));
  const shownPast = pastShown(past);

  return (
    <section className="page">
      <h1>Votings</h1>
      {profile && !profile.preferences.show_paid && (
        <p className="hint">
          Paid votings are hidden. <Link to="/profile#preferences">Show them</Link>
        </p>
      )}
      {polled.error && (
        <p className="message message-error" role="alert">
          The votings could not be loaded ({polled.error.message}). Trying again…
        </p>
      )}
      {votings === null && !polled.error && <p className="loading">Loading votings…</p>}
      {votings !== null && votings.length === 0 && (
        <p className="empty">No votings yet. New ones appear here as soon as they are scheduled.</p>
      )}
      <VotingSection title="Open now" votings={open} now={now} onChanged={changed} />
      <VotingSection title="Coming up" votings={upcoming} now={now} onChanged={changed} />
      <VotingSection
        title="Past"
        votings={allPast ? past : shownPast}
        now={now}
        onChanged={changed}
      />
      {!allPast && shownPast.length < past.length && (
        <button type="button" className="button-secondary button-wide" onClick={() => setAllPast(true)}>
          Show {past.length - shownPast.length} older votings
        </button>
      )}
    </section>
  );
}

interface SectionProps {
  title: string;
  votings: VotingTile[];
  now: number;
  onChanged: () => void;
}

function VotingSection({ title, votings, now, onChanged }: SectionProps) {
  if (votings.length === 0) return null;
  return (
    <section className="voting-section" aria-label={title}>
      <h2>{title}</h2>
      <div className="tiles">
        {votings.map((voting) => (
          <VotingCard key={voting.id} voting={voting} now={now} onChanged={onChanged} />
        ))}
      </div>
    </section>
  );
}
