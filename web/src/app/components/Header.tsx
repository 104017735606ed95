import { Link, NavLink, useNavigate } from "react-router";
import { useSession } from "../../shared/session";
import { formatCredits } from "../format";
import { useNotifications } from "../notifications";

export function Header() {
  const { profile, logout } = useSession();
  const { unread } = useNotifications();
  const navigate = useNavigate();

  const logOut = () => {
    logout();
    navigate("/login", { replace: true });
  };

  return (
    <header className="site-header">
      <Link to="/" className="brand">
        livevote
      </Link>
      <nav aria-label="Main">
        <ul>
          <li>
            <NavLink to="/" end>
              Votings
            </NavLink>
          </li>
          <li>
            <NavLink to="/notifications">
              Inbox
              {unread > 0 && (
                <>
                  <span className="badge" aria-hidden="true">
                    {unread}
                  </span>
                  <span className="visually-hidden"> ({unread} unread)</span>
                </>
              )}
            </NavLink>
          </li>
          <li>
            <NavLink to="/profile">
              Profile
              {profile && <span className="header-credits">{formatCredits(profile.credits)}</span>}
            </NavLink>
          </li>
        </ul>
      </nav>
      <button type="button" className="button-quiet" onClick={logOut}>
        Log out
      </button>
    </header>
  );
}
