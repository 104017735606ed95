import type { VotingTile } from "../../shared/types";
import { formatCountdown, hasPassed } from "../format";

/**
 * The time to the voting's next change: its opening while scheduled, its close while
 * open. Once the local clock has passed it, the tile waits for the server to agree.
 */
export function Countdown({ voting, now }: { voting: VotingTile; now: number }) {
  if (voting.status === "scheduled") {
    if (hasPassed(voting.opens_at, now)) return <p className="countdown">Opening now…</p>;
    return (
      <p className="countdown">
        Opens in <span role="timer">{formatCountdown(voting.opens_at, now)}</span>
      </p>
    );
  }
  if (voting.status === "open") {
    if (hasPassed(voting.closes_at, now)) return <p className="countdown">Closing now…</p>;
    return (
      <p className="countdown">
        Closes in <span role="timer">{formatCountdown(voting.closes_at, now)}</span>
      </p>
    );
  }
  return null;
}
