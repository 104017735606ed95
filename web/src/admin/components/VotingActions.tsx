// What an operator can still change about a voting: its window and cancelling it before
// it opens, closing it early while it is open. Cancelling and closing cannot be undone,
// so each asks for a second click (inline, not a browser dialog).

import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { request } from "../../shared/api";
import type { VotingTile } from "../../shared/types";
import { errorsByField } from "../errors";
import { inputToIso, isoToInput } from "../time";
import { ErrorNotice, SuccessNotice } from "./Notice";
import { WindowFields } from "./WindowFields";
import type { WindowValue } from "./WindowFields";

interface Props {
  voting: VotingTile;
  onChanged: (voting: VotingTile) => void;
}

export function VotingActions({ voting, onChanged }: Props) {
  if (voting.status === "scheduled") {
    return (
      <>
        <RescheduleForm voting={voting} onChanged={onChanged} />
        <ConfirmedAction
          label="Cancel voting"
          question="Cancel this voting? Nobody will be able to vote in it."
          confirm="Yes, cancel it"
          path={`/admin/votings/${voting.id}/cancel`}
          onChanged={onChanged}
        />
      </>
    );
  }
  if (voting.status === "open") {
    return (
      <ConfirmedAction
        label="Close now"
        question="Close this voting now, before its closing time? Votes after this are refused."
        confirm="Yes, close it now"
        path={`/admin/votings/${voting.id}/close`}
        onChanged={onChanged}
      />
    );
  }
  return <p>This voting is {voting.status}: nothing about it can be changed any more.</p>;
}

function RescheduleForm({ voting, onChanged }: Props) {
  const fromVoting = (): WindowValue => ({
    opensAt: isoToInput(voting.opens_at),
    closesAt: isoToInput(voting.closes_at),
  });
  const [when, setWhen] = useState<WindowValue>(fromVoting);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  // The form starts from the voting's window, also after it was moved (here or elsewhere).
  useEffect(() => setWhen(fromVoting()), [voting.opens_at, voting.closes_at]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setDone(false);
    try {
      const moved = await request<VotingTile>(`/admin/votings/${voting.id}`, {
        method: "PATCH",
        body: { opens_at: inputToIso(when.opensAt), closes_at: inputToIso(when.closesAt) },
      });
      setDone(true);
      onChanged(moved);
    } catch (failure) {
      setErrors(errorsByField(failure, ["opens_at", "closes_at"]));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="reschedule-title" noValidate>
      <h3 id="reschedule-title">Reschedule</h3>
      <WindowFields value={when} onChange={setWhen} errors={errors} />
      <ErrorNotice error={errors.form} />
      <SuccessNotice>{done && "The voting was rescheduled."}</SuccessNotice>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Saving…" : "Save new times"}
      </button>
    </form>
  );
}

interface ConfirmedActionProps {
  label: string;
  question: string;
  confirm: string;
  path: string;
  onChanged: (voting: VotingTile) => void;
}

function ConfirmedAction({ label, question, confirm, path, onChanged }: ConfirmedActionProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function act() {
    setBusy(true);
    setError(null);
    try {
      onChanged(await request<VotingTile>(path, { method: "POST" }));
      setAsking(false);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      {!asking ? (
        <button type="button" className="danger" onClick={() => setAsking(true)}>
          {label}
        </button>
      ) : (
        <div role="group" aria-label={label}>
          <p>{question}</p>
          <div className="button-row">
            <button type="button" className="danger" disabled={busy} onClick={act}>
              {confirm}
            </button>
            {/* Focus on the safe answer, so that pressing Enter twice cannot cancel by accident. */}
            <button type="button" onClick={() => setAsking(false)} autoFocus>
              Keep it
            </button>
          </div>
        </div>
      )}
      <ErrorNotice error={error} />
    </div>
  );
}
