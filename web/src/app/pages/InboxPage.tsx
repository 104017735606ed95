import { useEffect, useState } from "react";
import { request } from "../../shared/api";
import type { Inbox, Notification } from "../../shared/types";
import { ProblemMessage } from "../components/ProblemMessage";
import { genericProblem } from "../explain";
import type { Problem } from "../explain";
import { formatDateTime } from "../format";
import { useNotifications } from "../notifications";

const PAGE_SIZE = 20;

const KIND_LABELS: Record<string, string> = {
  reminder: "Reminder",
  alert: "Alert",
  update: "Update",
};

export function InboxPage() {
  const { unread, setUnread, latest } = useNotifications();
  const [items, setItems] = useState<Notification[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);

  const loadPage = async (after: string | null) => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (after) query.set("cursor", after);
    const page = await request<Inbox>(`/me/notifications?${query}`);
    setUnread(page.unread);
    setCursor(page.next_cursor);
    return page.items;
  };

  useEffect(() => {
    let current = true;
    loadPage(null)
      .then((first) => current && setItems(first))
      .catch((error: unknown) => current && setProblem(genericProblem(error, "Loading your inbox")));
    return () => {
      current = false;
    };
    // Once, on opening the page; later ones arrive live or with "Load more".
  }, []);

  // One that arrives while the page is open goes on top (the badge already counted it).
  useEffect(() => {
    if (!latest) return;
    setItems((shown) =>
      shown && !shown.some((item) => item.id === latest.id) ? [latest, ...shown] : shown,
    );
  }, [latest]);

  const loadMore = async () => {
    setLoadingMore(true);
    setProblem(null);
    try {
      const more = await loadPage(cursor);
      setItems((shown) => {
        const known = new Set((shown ?? []).map((item) => item.id));
        return [...(shown ?? []), ...more.filter((item) => !known.has(item.id))];
      });
    } catch (error) {
      setProblem(genericProblem(error, "Loading more notifications"));
    } finally {
      setLoadingMore(false);
    }
  };

  const markRead = async (notification: Notification) => {
    setProblem(null);
    try {
      await request(`/me/notifications/${encodeURIComponent(notification.id)}/read`, {
        method: "POST",
      });
      setItems((shown) =>
        (shown ?? []).map((item) => (item.id === notification.id ? { ...item, read: true } : item)),
      );
      setUnread(Math.max(0, unread - 1));
    } catch (error) {
      setProblem(genericProblem(error, "Marking it read"));
    }
  };

  const markAllRead = async () => {
    setProblem(null);
    try {
      await request("/me/notifications/read-all", { method: "POST" });
      setItems((shown) => (shown ?? []).map((item) => ({ ...item, read: true })));
      setUnread(0);
    } catch (error) {
      setProblem(genericProblem(error, "Marking all read"));
    }
  };

  return (
    <section className="page">
      <div className="page-head">
        <h1>Inbox</h1>
        <p className="unread-count" aria-live="polite">
          {unread === 0 ? "All read" : `${unread} unread`}
        </p>
        {unread > 0 && (
          <button type="button" className="button-secondary" onClick={() => void markAllRead()}>
            Mark all as read
          </button>
        )}
      </div>
      {problem && <ProblemMessage problem={problem} />}
      {items === null && !problem && <p className="loading">Loading your inbox…</p>}
      {items !== null && items.length === 0 && (
        <p className="empty">Nothing here yet. Reminders, alerts and updates arrive here.</p>
      )}
      {items !== null && items.length > 0 && (
        <ul className="inbox">
          {items.map((item) => (
            <li key={item.id} className={item.read ? "notification" : "notification notification-unread"}>
              <article aria-labelledby={`notification-${item.id}`}>
                <p className="notification-meta">
                  <span className={`notification-kind kind-${item.kind}`}>
                    {KIND_LABELS[item.kind] ?? item.kind}
                  </span>
                  <time dateTime={item.created_at}>{formatDateTime(item.created_at)}</time>
                  {!item.read && <span className="new-dot">New</span>}
                </p>
                <h2 id={`notification-${item.id}`}>{item.title}</h2>
                {item.body && <p className="notification-body">{item.body}</p>}
                {!item.read && (
                  <button type="button" className="button-quiet" onClick={() => void markRead(item)}>
                    Mark as read<span className="visually-hidden">: {item.title}</span>
                  </button>
                )}
              </article>
            </li>
          ))}
        </ul>
      )}
      {cursor && items !== null && (
        <button
          type="button"
          className="button-secondary button-wide"
          disabled={loadingMore}
          onClick={() => void loadMore()}
        >
          {loadingMore ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}
