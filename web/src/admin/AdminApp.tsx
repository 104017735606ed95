// The operator's panel at /admin: its own login, a refusal for accounts that are not
// operators, and the sections as nested routes (relative to /admin, see main.tsx).

import { useEffect, useState } from "react";
import { Navigate, Route, Routes } from "react-router";
import { useSession } from "../shared/session";
import { AdminLayout } from "./components/AdminLayout";
import { LoginScreen } from "./components/LoginScreen";
import { ErrorNotice } from "./components/Notice";
import { ArchivePage } from "./pages/ArchivePage";
import { DeliveryPage } from "./pages/DeliveryPage";
import { HealthPage } from "./pages/HealthPage";
import { UpdatesPage } from "./pages/UpdatesPage";
import { UserPage } from "./pages/UserPage";
import { UsersPage } from "./pages/UsersPage";
import { VotingPage } from "./pages/VotingPage";
import { VotingsPage } from "./pages/VotingsPage";
import "./admin.css";

export default function AdminApp() {
  const { token, profile, logout } = useSession();
  if (!token) return <LoginScreen />;
  if (!profile) return <ProfileLoading />;
  if (profile.role !== "admin") {
    return (
      <main className="admin-login">
        <h1>livevote admin</h1>
        <p className="notice notice-error" role="alert">
          {profile.email}: this account is not an operator.
        </p>
        <button type="button" onClick={() => logout()}>
          Log out and use another account
        </button>
      </main>
    );
  }
  return (
    <Routes>
      <Route element={<AdminLayout />}>
        <Route index element={<Navigate to="votings" replace />} />
        <Route path="votings" element={<VotingsPage />} />
        <Route path="votings/:votingId" element={<VotingPage />} />
        <Route path="updates" element={<UpdatesPage />} />
        <Route path="updates/:updateId" element={<DeliveryPage />} />
        <Route path="users" element={<UsersPage />} />
        <Route path="users/:userId" element={<UserPage />} />
        <Route path="health" element={<HealthPage />} />
        <Route path="archive" element={<ArchivePage />} />
        <Route path="*" element={<p>No such admin page.</p>} />
      </Route>
    </Routes>
  );
}

/** Logged in, the profile (and so the role) not known yet; if asking for it failed (the
 * session swallows that), the operator can ask again instead of waiting forever. */
function ProfileLoading() {
  const { refresh } = useSession();
  const [error, setError] = useState<unknown>(null);
  // Offered only when the answer is late: it usually comes within a blink.
  const [late, setLate] = useState(false);
  useEffect(() => {
    const timer = window.setTimeout(() => setLate(true), 3000);
    return () => window.clearTimeout(timer);
  }, []);
  return (
    <main className="admin-login">
      <h1>livevote admin</h1>
      <p className="loading">Loading your account…</p>
      <ErrorNotice error={error} />
      {late && (
        <button type="button" onClick={() => refresh().then(() => setError(null), setError)}>
          Try again
        </button>
      )}
    </main>
  );
}
