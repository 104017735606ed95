// The frame of every admin page: the title, the navigation between the sections, who is
// logged in, and the page itself (the nested route's <Outlet>).

import { NavLink, Outlet } from "react-router";
import { useSession } from "../../shared/session";

const SECTIONS = [
  { to: "/admin/votings", label: "Votings" },
  { to: "/admin/updates", label: "Updates" },
  { to: "/admin/users", label: "Users" },
  { to: "/admin/health", label: "Health" },
  { to: "/admin/archive", label: "Archive" },
] as const;

export function AdminLayout() {
  const { profile, logout } = useSession();
  return (
    <div className="admin-shell">
      <a href="#admin-main" className="skip-link">
        Skip to content
      </a>
      <header className="admin-header">
        <h1>livevote admin</h1>
        <nav aria-label="Admin sections">
          <ul>
            {SECTIONS.map((section) => (
              <li key={section.to}>
                <NavLink to={section.to}>{section.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="admin-who">
          <span>{profile?.email}</span>
          <button type="button" onClick={() => logout()}>
            Log out
          </button>
        </div>
      </header>
      <main id="admin-main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
