// Plain words for the API's error codes, where the voter meets them: a vote, a
// registration, a purchase. Codes the pages do not expect get the server's own message.

import { ApiError } from "../shared/api";
import type { VotingTile } from "../shared/types";
import { formatCredits, formatWhen } from "./format";

/** What to tell the voter, and where they can fix it (a page of the app), if anywhere. */
export interface Problem {
  text: string;
  link?: { to: string; label: string };
}

export const BUY_CREDITS = { to: "/profile#buy-credits", label: "Buy credits on your profile page" };

/** Why a vote was not counted, from an error code (an answer's, or a rejected vote's reason). */
export function voteProblem(
  code: string,
  voting: VotingTile,
  serverMessage: string,
  details: Record<string, unknown> = {},
): Problem {
  switch (code) {
    case "VOTING_NOT_OPEN": {
      const opensAt = typeof details.opens_at === "string" ? details.opens_at : voting.opens_at;
      return { text: `This voting is not open yet: it opens ${formatWhen(opensAt)}.` };
    }
    case "VOTING_CLOSED":
      return {
        text:
          voting.status === "cancelled"
            ? "This voting was cancelled, so no votes are taken."
            : "This voting has closed; votes are no longer taken.",
      };
    case "ALREADY_VOTED":
      return { text: "You have already voted in this voting. Only one vote per person counts." };
    case "INSUFFICIENT_CREDITS":
      return {
        text: `A vote here costs ${formatCredits(voting.cost || 1)} and you do not have enough. Nothing was taken from your account.`,
        link: BUY_CREDITS,
      };
    case "UNKNOWN_OPTION":
      return { text: "That choice is not part of this voting (any more). Please pick one of the options shown." };
    case "RATE_LIMITED":
      return { text: "Too many attempts in a short time. Please wait a moment and try again." };
    case "SERVICE_UNAVAILABLE":
    case "NETWORK_ERROR":
      // The vote may or may not have been taken; a retry carries the same idempotency
      // key, so it can never count twice.
      return { text: "Your vote could not be confirmed just now. Please try again; it will never count twice." };
    default:
      return { text: `Your vote was not counted: ${serverMessage}` };
  }
}

/** A failed call outside voting (registration, preferences, checkout), in plain words. */
export function genericProblem(error: unknown, what: string): Problem {
  if (!(error instanceof ApiError)) return { text: `${what} failed. Please try again.` };
  switch (error.code) {
    case "VOTING_CLOSED":
      return { text: "This voting has ended, so you can no longer register." };
    case "NETWORK_ERROR":
      return { text: `${what} failed: livevote cannot be reached. Check your connection and try again.` };
    case "SERVICE_UNAVAILABLE":
      return { text: `${what} failed: livevote is busy right now. Please try again in a moment.` };
    case "RATE_LIMITED":
      return { text: "Too many attempts in a short time. Please wait a moment and try again." };
    default:
      return { text: `${what} failed: ${error.message}` };
  }
}
