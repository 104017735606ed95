// The operator's own login form: the admin panel is reached directly at /admin, not
// through the voter app's pages.

import { useState } from "react";
import type { FormEvent } from "react";
import { useSession } from "../../shared/session";
import { InputField } from "./Field";
import { ErrorNotice } from "./Notice";

export function LoginScreen() {
  const { login, notice } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <main className="admin-login">
      <h1>livevote admin</h1>
      <p>Log in with an operator account.</p>
      {notice && <p className="notice notice-info" role="status">{notice}</p>}
      <form onSubmit={submit} className="card form-grid" aria-label="Operator login">
        <InputField label="E-mail" type="email" autoComplete="username" required value={email} onValue={setEmail} />
        <InputField
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onValue={setPassword}
        />
        <ErrorNotice error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
