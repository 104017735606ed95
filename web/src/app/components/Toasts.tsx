import { Link } from "react-router";
import { useNotifications } from "../notifications";

/** Notifications that just arrived, announced to screen readers as they appear. */
export function Toasts() {
  const { toasts, dismiss } = useNotifications();
  return (
    // Always in the page: a live region only announces what is added to it after it exists.
    <div className="toasts" role="status" aria-live="polite">
      {toasts.map((toast) => (
        <div className="toast" key={toast.id}>
          <div className="toast-text">
            <strong>{toast.title}</strong>
            {toast.body && <p>{toast.body}</p>}
            <Link to="/notifications" onClick={() => dismiss(toast.id)}>
              Open inbox
            </Link>
          </div>
          <button
            type="button"
            className="toast-close"
            aria-label={`Dismiss "${toast.title}"`}
            onClick={() => dismiss(toast.id)}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
