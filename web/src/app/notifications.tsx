// The signed-in voter's notifications across pages: the unread count for the header's
// badge, and a toast for each one that arrives over the WebSocket while the app is open.

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { request } from "../shared/api";
import { useLive } from "../shared/live";
import type { Inbox, Notification } from "../shared/types";

// Long enough to read a title and a sentence; the inbox keeps it afterwards.
const TOAST_MS = 10_000;

interface Notifications {
  unread: number;
  /** The count the server gave with an inbox page (it is the source of truth). */
  setUnread(count: number): void;
  toasts: Notification[];
  dismiss(id: string): void;
  /** Called with every notification that arrives live (the inbox page prepends it). */
  latest: Notification | null;
}

const NotificationsContext = createContext<Notifications | null>(null);

export function NotificationsProvider({ children }: { children: ReactNode }) {
  const [unread, setUnread] = useState(0);
  const [toasts, setToasts] = useState<Notification[]>([]);
  const [latest, setLatest] = useState<Notification | null>(null);

  useEffect(() => {
    let current = true;
    request<Inbox>("/me/notifications?limit=1")
      .then((inbox) => current && setUnread(inbox.unread))
      // The badge is a convenience: without it the inbox page still shows the count.
      .catch(() => undefined);
    return () => {
      current = false;
    };
  }, []);

  const dismiss = useCallback((id: string) => {
    setToasts((shown) => shown.filter((toast) => toast.id !== id));
  }, []);

  useLive((message) => {
    if (message.type !== "notification") return;
    const notification = message.notification;
    setLatest(notification);
    if (!notification.read) setUnread((count) => count + 1);
    setToasts((shown) => [...shown.filter((toast) => toast.id !== notification.id), notification]);
    window.setTimeout(() => dismiss(notification.id), TOAST_MS);
  });

  const value = useMemo(
    () => ({ unread, setUnread, toasts, dismiss, latest }),
    [unread, toasts, dismiss, latest],
  );
  return <NotificationsContext.Provider value={value}>{children}</NotificationsContext.Provider>;
}

export function useNotifications(): Notifications {
  const notifications = useContext(NotificationsContext);
  if (!notifications) throw new Error("useNotifications outside NotificationsProvider");
  return notifications;
}
