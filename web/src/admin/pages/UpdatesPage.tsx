// Composing an update (news from the operator) to every user who agreed to receive them.
// The audience is shown before sending, and kept current while the form is open, since
// users change their preference at any time.

import { useState } from "react";
import type { FormEvent } from "react";
import { useNavigate } from "react-router";
import { idempotencyKey, request } from "../../shared/api";
import type { VotingTile } from "../../shared/types";
import { FieldFrame, InputField, TextAreaField } from "../components/Field";
import { ErrorNotice } from "../components/Notice";
import { errorsByField } from "../errors";
import type { UpdateAccepted, UpdateAudience } from "../types";
import { usePolling } from "../usePolling";

const AUDIENCE_MS = 5000;
const FIELDS = ["title", "body", "voting_id"] as const;

export function UpdatesPage() {
  const navigate = useNavigate();
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [votingId, setVotingId] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  // One key per composed update: a retried click after a lost answer sends it once.
  const [key, setKey] = useState(idempotencyKey);
  const audience = usePolling(() => request<UpdateAudience>("/admin/updates/audience"), AUDIENCE_MS);
  const votings = usePolling(() => request<VotingTile[]>("/votings"), 30_000);
  // An update may point at a voting people can still take part in.
  const linkable = (votings.data ?? []).filter((v) => v.status === "open" || v.status === "scheduled");

  async function send(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      const sent = await request<UpdateAccepted>("/admin/updates", {
        method: "POST",
        headers: { "Idempotency-Key": key },
        body: { title, body, ...(votingId ? { voting_id: votingId } : {}) },
      });
      setKey(idempotencyKey());
      navigate(`/admin/updates/${sent.id}`);
    } catch (failure) {
      setErrors(errorsByField(failure, FIELDS));
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="updates-title">
      <h2 id="updates-title">Send an update</h2>
      <p className="audience" aria-live="polite">
        {audience.data
          ? `Sent now, this update would reach ${audience.data.audience} user${audience.data.audience === 1 ? "" : "s"} (those who accept updates).`
          : audience.error
            ? null
            : "Counting the audience…"}
      </p>
      <ErrorNotice error={audience.error} />
      <form className="card form-grid narrow" onSubmit={send} noValidate aria-labelledby="updates-title">
        <InputField label="Title" required maxLength={200} value={title} error={errors.title} onValue={setTitle} />
        <TextAreaField label="Message" rows={4} required value={body} error={errors.body} onValue={setBody} />
        <FieldFrame label="About a voting (optional)" error={errors.voting_id}>
          {({ id, describedBy }) => (
            <select id={id} aria-describedby={describedBy} value={votingId} onChange={(e) => setVotingId(e.target.value)}>
              <option value="">No voting</option>
              {linkable.map((voting) => (
                <option key={voting.id} value={voting.id}>
                  {voting.title} ({voting.status})
                </option>
              ))}
            </select>
          )}
        </FieldFrame>
        <ErrorNotice error={errors.form} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Sending…" : "Send update"}
        </button>
      </form>
    </section>
  );
}
