// One user's credits and ledger, and granting them credits (support, goodwill) with a
// reason that goes into their ledger.

import { useState } from "react";
import type { FormEvent } from "react";
import { Link, useParams } from "react-router";
import { idempotencyKey, request } from "../../shared/api";
import { InputField } from "../components/Field";
import { ErrorNotice, SuccessNotice } from "../components/Notice";
import { ScrollTable } from "../components/ScrollTable";
import { errorsByField } from "../errors";
import { formatTime } from "../time";
import type { Balance, UserAccount } from "../types";
import { usePolling } from "../usePolling";

// Paid votes settle within seconds; the balance catches up on its own.
const ACCOUNT_MS = 10_000;

export function UserPage() {
  const { userId = "" } = useParams();
  const account = usePolling(
    () => request<UserAccount>(`/admin/users/${encodeURIComponent(userId)}`),
    ACCOUNT_MS,
    userId,
  );
  const user = account.data;

  return (
    <section aria-labelledby="user-title">
      <p>
        <Link to="/admin/users">← Find another user</Link>
      </p>
      <ErrorNotice error={account.error} />
      {!user && !account.error && <p className="loading">Loading the account…</p>}
      {user && (
        <>
          <h2 id="user-title">{user.display_name}</h2>
          <dl className="facts">
            <div>
              <dt>E-mail</dt>
              <dd>{user.email}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>{user.role}</dd>
            </div>
            <div>
              <dt>Credits available</dt>
              <dd data-testid="credits-available">{user.credits}</dd>
            </div>
            <div>
              <dt>Reserved for pending votes</dt>
              <dd>{user.credits_reserved}</dd>
            </div>
          </dl>
          <div className="two-columns">
            <section>
              <h3 id="ledger-title">Ledger (newest first)</h3>
              {user.ledger.length === 0 ? (
                <p>No credit changes yet.</p>
              ) : (
                <ScrollTable label="Ledger">
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Amount</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Reference</th>
                    </tr>
                  </thead>
                  <tbody>
                    {user.ledger.map((entry, index) => (
                      <tr key={`${entry.at}-${index}`}>
                        <td>{formatTime(entry.at)}</td>
                        <td>{entry.kind}</td>
                        <td className={entry.amount < 0 ? "negative" : "positive"}>
                          {entry.amount > 0 ? `+${entry.amount}` : entry.amount}
                        </td>
                        <td>{entry.reason}</td>
                        <td>{entry.reference ?? ""}</td>
                      </tr>
                    ))}
                  </tbody>
                </ScrollTable>
              )}
            </section>
            <GrantCreditsForm userId={user.id} onGranted={() => void account.reload()} />
          </div>
        </>
      )}
    </section>
  );
}

function GrantCreditsForm({ userId, onGranted }: { userId: string; onGranted: () => void }) {
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [granted, setGranted] = useState<Balance | null>(null);
  const [busy, setBusy] = useState(false);
  // Kept until the grant succeeds: a retry after a lost answer grants nothing more.
  const [key, setKey] = useState(idempotencyKey);

  async function grant(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGranted(null);
    try {
      const balance = await request<Balance>(`/admin/users/${encodeURIComponent(userId)}/credits`, {
        method: "POST",
        headers: { "Idempotency-Key": key },
        // A number when it is one; anything else goes as typed, for the API to refuse.
        body: { amount: amount.trim() && Number.isInteger(Number(amount)) ? Number(amount) : amount, reason },
      });
      setGranted(balance);
      setAmount("");
      setReason("");
      setKey(idempotencyKey());
      onGranted();
    } catch (failure) {
      setErrors(errorsByField(failure, ["amount", "reason"]));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form-grid" onSubmit={grant} noValidate aria-labelledby="grant-title">
      <h3 id="grant-title">Grant credits</h3>
      <InputField
        label="Credits"
        type="number"
        inputMode="numeric"
        min={1}
        step={1}
        required
        value={amount}
        error={errors.amount}
        onValue={setAmount}
      />
      <InputField label="Reason" required maxLength={500} value={reason} error={errors.reason} onValue={setReason} />
      <ErrorNotice error={errors.form} />
      <SuccessNotice>{granted && `Granted. The new balance is ${granted.available} credits available.`}</SuccessNotice>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Granting…" : "Grant credits"}
      </button>
    </form>
  );
}
