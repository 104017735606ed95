import { StrictMode, Suspense, lazy } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Route, Routes } from "react-router";
import { LiveProvider } from "./shared/live";
import { SessionProvider, useSession } from "./shared/session";
import "./shared/base.css";

const VoterApp = lazy(() => import("./app/VoterApp"));
const AdminApp = lazy(() => import("./admin/AdminApp"));

function Live({ children }: { children: React.ReactNode }) {
  const { token } = useSession();
  return <LiveProvider token={token}>{children}</LiveProvider>;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <SessionProvider>
        <Live>
          <Suspense fallback={<p className="loading">Loading…</p>}>
            <Routes>
              <Route path="/admin/*" element={<AdminApp />} />
              <Route path="/*" element={<VoterApp />} />
            </Routes>
          </Suspense>
        </Live>
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
