// Casting a vote from a tile and following it to its outcome: at once for a free vote
// (201), later for a paid one still being confirmed (202), which the WebSocket reports
// (vote.confirmed / vote.rejected) and GET .../votes/me confirms if a message is missed.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, idempotencyKey, request } from "../../shared/api";
import { useLive } from "../../shared/live";
import type { Vote, VotingTile } from "../../shared/types";
import { voteProblem } from "../explain";
import type { Problem } from "../explain";

export type Outcome =
  | { kind: "confirmed"; optionId: string }
  | { kind: "pending"; optionId: string }
  | { kind: "problem"; problem: Problem };

// How often a pending vote is looked up, in case its WebSocket message does not come.
const PENDING_CHECK_MS = 3000;

export function useVote(voting: VotingTile, onSettled: () => void) {
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  // One key per intended vote: a retry after a timeout or a 503 sends the same one, so
  // the server answers with the first attempt's vote instead of counting it twice.
  const attempt = useRef<{ optionId: string; key: string } | null>(null);
  const latest = useRef({ voting, onSettled });
  latest.current = { voting, onSettled };

  const settle = useCallback((vote: Vote) => {
    const { voting: current, onSettled: settled } = latest.current;
    if (vote.status === "confirmed") setOutcome({ kind: "confirmed", optionId: vote.option_id });
    else if (vote.status === "rejected")
      setOutcome({
        kind: "problem",
        problem: voteProblem(vote.reason ?? "", current, vote.reason ?? "it was rejected"),
      });
    else return;
    settled();
  }, []);

  const cast = useCallback(async (optionId: string) => {
    const current = latest.current.voting;
    const key =
      attempt.current?.optionId === optionId ? attempt.current.key : idempotencyKey();
    attempt.current = { optionId, key };
    setBusy(true);
    setOutcome(null);
    try {
      const vote = await request<Vote>(`/votings/${encodeURIComponent(current.id)}/votes`, {
        method: "POST",
        body: { option_id: optionId },
        headers: { "Idempotency-Key": key },
      });
      attempt.current = null;
      if (vote.status === "pending") setOutcome({ kind: "pending", optionId });
      else settle(vote);
    } catch (error) {
      const failure =
        error instanceof ApiError ? error : new ApiError(0, "ERROR", "something went wrong");
      const retryable = failure.code === "SERVICE_UNAVAILABLE" || failure.code === "NETWORK_ERROR";
      if (!retryable) attempt.current = null;
      setOutcome({
        kind: "problem",
        problem: voteProblem(failure.code, current, failure.message, failure.details),
      });
      // The tile may be out of date (the voting closed, a vote from another device).
      if (!retryable) latest.current.onSettled();
    } finally {
      setBusy(false);
    }
  }, [settle]);

  const pending = outcome?.kind === "pending";

  useLive((message) => {
    if (!pending) return;
    if (message.type === "vote.confirmed" && message.voting_id === voting.id) {
      setOutcome({ kind: "confirmed", optionId: message.option_id });
      onSettled();
    } else if (message.type === "vote.rejected" && message.voting_id === voting.id) {
      setOutcome({ kind: "problem", problem: voteProblem(message.reason, voting, message.reason) });
      onSettled();
    }
  });

  useEffect(() => {
    if (!pending) return;
    const timer = window.setInterval(() => {
      request<Vote>(`/votings/${encodeURIComponent(voting.id)}/votes/me`)
        .then(settle)
        // Still unknown: the next check or the WebSocket will tell.
        .catch(() => undefined);
    }, PENDING_CHECK_MS);
    return () => window.clearInterval(timer);
  }, [pending, voting.id, settle]);

  return { outcome, busy, cast };
}
