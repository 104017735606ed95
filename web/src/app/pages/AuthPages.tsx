// Logging in and signing up: the first screen of the app, so it names the product.

import { useState } from "react";
import type { FormEvent, ReactNode } from "react";
import { Link } from "react-router";
import { ApiError } from "../../shared/api";
import { useSession } from "../../shared/session";
import { Field } from "../components/Field";

function AuthCard({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="auth" id="main">
      <div className="auth-card">
        <h1>livevote</h1>
        <p className="tagline">Vote live in the shows you watch.</p>
        <h2>{title}</h2>
        {children}
      </div>
    </main>
  );
}

export function LoginPage() {
  const { login, notice } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Signed in, the app leaves this page by itself (see GuestOnly).
      await login(email.trim(), password);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? "That e-mail address and password do not match an account."
          : failure instanceof ApiError
            ? `Logging in failed: ${failure.message}`
            : "Logging in failed. Please try again.",
      );
      setBusy(false);
    }
  };

  return (
    <AuthCard title="Log in">
      {notice && (
        <p className="message message-notice" role="alert">
          {notice}
        </p>
      )}
      <form onSubmit={submit}>
        <Field
          label="E-mail"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
        />
        <Field
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => setPassword(event.target.value)}
        />
        {error && (
          <p className="message message-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button-primary button-wide" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p className="auth-switch">
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </AuthCard>
  );
}

export function SignupPage() {
  const { signup } = useSession();
  const [displayName, setDisplayName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await signup(email.trim(), password, displayName.trim());
    } catch (failure) {
      if (failure instanceof ApiError && failure.code === "EMAIL_TAKEN") {
        setErrors({ email: "An account with this e-mail address exists already. Log in instead." });
      } else if (failure instanceof ApiError && failure.code === "VALIDATION_ERROR") {
        const byField = failure.fieldErrors();
        setErrors(Object.keys(byField).length ? byField : { form: failure.message });
      } else {
        setErrors({
          form: failure instanceof ApiError ? `Signing up failed: ${failure.message}` : "Signing up failed.",
        });
      }
      setBusy(false);
    }
  };

  return (
    <AuthCard title="Create an account">
      <form onSubmit={submit}>
        <Field
          label="Your name"
          autoComplete="nickname"
          required
          maxLength={100}
          value={displayName}
          onChange={(event) => setDisplayName(event.target.value)}
          error={errors.display_name}
        />
        <Field
          label="E-mail"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={errors.email}
        />
        <Field
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters."
          required
          minLength={8}
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={errors.password}
        />
        {errors.form && (
          <p className="message message-error" role="alert">
            {errors.form}
          </p>
        )}
        <button type="submit" className="button-primary button-wide" disabled={busy}>
          {busy ? "Creating your account…" : "Sign up"}
        </button>
      </form>
      <p className="auth-switch">
        Have an account? <Link to="/login">Log in</Link>
      </p>
    </AuthCard>
  );
}
