// Scheduling a new voting. The API validates (and the form shows its answers at the
// fields); the browser only checks that required fields are filled.

import { useState } from "react";
import type { FormEvent } from "react";
import { request } from "../../shared/api";
import type { VotingKind, VotingTile } from "../../shared/types";
import { errorsByField } from "../errors";
import { inputToIso, localInputValue } from "../time";
import { FieldFrame, InputField, TextAreaField } from "./Field";
import { ErrorNotice } from "./Notice";
import { WindowFields } from "./WindowFields";
import type { WindowValue } from "./WindowFields";

const FIELDS = ["title", "description", "options", "kind", "opens_at", "closes_at"] as const;

function defaultWindow(): WindowValue {
  // In five minutes for an hour: a sensible start the operator adjusts.
  const opens = new Date(Date.now() + 5 * 60_000);
  opens.setSeconds(0, 0);
  return {
    opensAt: localInputValue(opens),
    closesAt: localInputValue(new Date(opens.getTime() + 60 * 60_000)),
  };
}

export function CreateVotingForm({ onCreated }: { onCreated: (voting: VotingTile) => void }) {
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [options, setOptions] = useState<string[]>(["", ""]);
  const [kind, setKind] = useState<VotingKind>("free");
  const [when, setWhen] = useState<WindowValue>(defaultWindow);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const setOption = (index: number, label: string) =>
    setOptions((current) => current.map((old, at) => (at === index ? label : old)));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      const voting = await request<VotingTile>("/admin/votings", {
        method: "POST",
        body: {
          title,
          description,
          // Empty rows are spare inputs, not options.
          options: options.map((label) => label.trim()).filter(Boolean),
          kind,
          opens_at: inputToIso(when.opensAt),
          closes_at: inputToIso(when.closesAt),
        },
      });
      setTitle("");
      setDescription("");
      setOptions(["", ""]);
      setWhen(defaultWindow());
      onCreated(voting);
    } catch (failure) {
      setErrors(errorsByField(failure, FIELDS));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="create-voting-title" noValidate>
      <h3 id="create-voting-title">New voting</h3>
      <InputField label="Title" required maxLength={200} value={title} error={errors.title} onValue={setTitle} />
      <TextAreaField
        label="Description"
        rows={2}
        value={description}
        error={errors.description}
        onValue={setDescription}
      />
      <fieldset>
        <legend>Options</legend>
        {options.map((label, index) => (
          <div className="option-row" key={index}>
            <InputField
              label={`Option ${index + 1}`}
              value={label}
              error={errors[`options.${index}`]}
              onValue={(text) => setOption(index, text)}
            />
            {options.length > 2 && (
              <button
                type="button"
                className="link-button"
                aria-label={`Remove option ${index + 1}`}
                onClick={() => setOptions((current) => current.filter((_, at) => at !== index))}
              >
                Remove
              </button>
            )}
          </div>
        ))}
        {errors.options && (
          <small className="field-error" role="alert">
            {errors.options}
          </small>
        )}
        <button type="button" onClick={() => setOptions((current) => [...current, ""])}>
          Add an option
        </button>
      </fieldset>
      <FieldFrame label="Kind" error={errors.kind}>
        {({ id, describedBy }) => (
          <select id={id} aria-describedby={describedBy} value={kind} onChange={(e) => setKind(e.target.value as VotingKind)}>
            <option value="free">Free</option>
            <option value="paid">Paid (one credit a vote)</option>
          </select>
        )}
      </FieldFrame>
      <WindowFields value={when} onChange={setWhen} errors={errors} />
      <ErrorNotice error={errors.form} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Scheduling…" : "Schedule voting"}
      </button>
    </form>
  );
}
