// The voter's app: everything at / except /admin. Logged out, every page leads to the
// login page (which names the product); logged in, pages share the header, the live
// notifications and their toasts.

import type { ReactNode } from "react";
import { Navigate, Outlet, Route, Routes, useLocation } from "react-router";
import { useSession } from "../shared/session";
import { Header } from "./components/Header";
import { Toasts } from "./components/Toasts";
import { NotificationsProvider } from "./notifications";
import { LoginPage, SignupPage } from "./pages/AuthPages";
import { CreditsCancelledPage, CreditsSuccessPage } from "./pages/CreditsPages";
import { InboxPage } from "./pages/InboxPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ProfilePage } from "./pages/ProfilePage";
import { VotingsPage } from "./pages/VotingsPage";
import "./voter.css";

export default function VoterApp() {
  return (
    // The styles are scoped to this element, so the admin panel keeps its own.
    <div className="voter">
      <Routes>
        <Route path="login" element={<GuestOnly page={<LoginPage />} />} />
        <Route path="signup" element={<GuestOnly page={<SignupPage />} />} />
        <Route element={<SignedIn />}>
          <Route index element={<VotingsPage />} />
          <Route path="profile" element={<ProfilePage />} />
          <Route path="notifications" element={<InboxPage />} />
          <Route path="credits/success" element={<CreditsSuccessPage />} />
          <Route path="credits/cancelled" element={<CreditsCancelledPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </div>
  );
}

/**
 * The login and signup pages, which a signed-in voter does not need: once signed in,
 * back to the page that asked for the session (kept in the location's state), if any.
 */
function GuestOnly({ page }: { page: ReactNode }) {
  const { token } = useSession();
  const location = useLocation();
  if (!token) return page;
  const from = (location.state as { from?: string } | null)?.from;
  const back = from?.startsWith("/") && !from.startsWith("//") ? from : "/";
  return <Navigate to={back} replace />;
}

/** The pages of a signed-in voter; without a session (or once it expires), the login page. */
function SignedIn() {
  const { token } = useSession();
  const location = useLocation();
  if (!token) {
    const from = location.pathname + location.search + location.hash;
    return <Navigate to="/login" replace state={{ from }} />;
  }
  return (
    <NotificationsProvider>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
      <Toasts />
    </NotificationsProvider>
  );
}
