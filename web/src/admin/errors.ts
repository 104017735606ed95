// What an operator reads when the API refuses: the API's own message, put in plain words
// where the code alone would not say what to do, and placed at the field it is about.

import { ApiError } from "../shared/api";

const FIELD_NAMES: Record<string, string> = {
  opens_at: "the opening time",
  closes_at: "the closing time",
};

/** The API's wording with its field names (opens_at) replaced by the form's. */
function humanize(message: string): string {
  let text = message.replace(/^Value error, /, "");
  for (const [field, words] of Object.entries(FIELD_NAMES)) text = text.replaceAll(field, words);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A sentence for an error anywhere on the page (not tied to one field). */
export function explain(error: unknown): string {
  if (!(error instanceof ApiError)) return String(error);
  switch (error.code) {
    case "TOO_MANY_CONCURRENT_VOTINGS": {
      const limit = typeof error.details.limit === "number" ? error.details.limit : 16;
      return (
        `livevote runs at most ${limit} votings at the same time, and ${limit} others are ` +
        "already scheduled or open during part of this window. Choose a time when fewer " +
        "votings run, or cancel or close one of them first."
      );
    }
    case "VOTING_ALREADY_OPEN":
      return "This voting has already opened: only a voting that has not started can be changed or cancelled. Close it instead.";
    case "VOTING_NOT_OPEN":
      return "This voting has not opened yet, so it cannot be closed; cancel it instead.";
    case "VOTING_CLOSED":
      return "This voting is already over (closed or cancelled).";
    case "SERVICE_UNAVAILABLE":
      return "A part of livevote is busy or down right now. Try again in a moment; the Health page shows which.";
    case "FORBIDDEN":
      return "This account is not an operator.";
    default:
      return humanize(error.message);
  }
}

/**
 * Errors by form field. Pydantic puts a check across fields (closes before opens) on
 * the whole body, and the voting service answers without a location at all; such a
 * message names its field, so it is shown there rather than at the top of the form.
 * Whatever fits no field is under "form".
 */
export function errorsByField(error: unknown, fields: readonly string[]): Record<string, string> {
  if (!(error instanceof ApiError)) return { form: explain(error) };
  if (error.code !== "VALIDATION_ERROR") return { form: explain(error) };
  const byField: Record<string, string> = {};
  const raw = error.fieldErrors();
  const loose = Object.keys(raw).length ? raw : { form: error.message };
  for (const [location, message] of Object.entries(loose)) {
    const field = fields.includes(location)
      ? location
      : fields.includes(location.split(".")[0] ?? "")
        ? location // "options.1": one option of a list, kept apart
        : firstFieldNamed(message, fields) ?? "form";
    byField[field] ??= humanize(message);
  }
  return byField;
}

function firstFieldNamed(message: string, fields: readonly string[]): string | undefined {
  let first: string | undefined;
  let at = Infinity;
  for (const field of fields) {
    const index = message.indexOf(field);
    if (index >= 0 && index < at) [first, at] = [field, index];
  }
  return first;
}
