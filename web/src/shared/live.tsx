// The signed-in user's WebSocket (/api/v1/ws): one per tab, reconnecting with backoff.
// Pages subscribe to what it sends with useLive().

import { createContext, useContext, useEffect, useRef, useState } from "react";
import type { ReactNode } from "react";
import type { SocketMessage } from "./types";

type Listener = (message: SocketMessage) => void;

interface Live {
  connected: boolean;
  subscribe(listener: Listener): () => void;
}

const LiveContext = createContext<Live | null>(null);

export function LiveProvider({ token, children }: { token: string | null; children: ReactNode }) {
  const listeners = useRef(new Set<Listener>());
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    if (!token) return;
    let socket: WebSocket | null = null;
    let retry = 0;
    let timer: number | undefined;
    let stopped = false;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws?token=${encodeURIComponent(token)}`);
      socket.onmessage = (event: MessageEvent<string>) => {
        const message = JSON.parse(event.data) as SocketMessage;
        if (message.type === "connected") {
          retry = 0;
          setConnected(true);
        }
        for (const listener of listeners.current) listener(message);
      };
      socket.onclose = (event) => {
        setConnected(false);
        // 4401: the token is no longer valid; the session logs out on its next request.
        if (stopped || event.code === 4401) return;
        timer = window.setTimeout(open, Math.min(10_000, 500 * 2 ** retry++));
      };
    };
    open();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      socket?.close();
    };
  }, [token]);

  const value = useRef<Live>({
    connected: false,
    subscribe(listener) {
      listeners.current.add(listener);
      return () => listeners.current.delete(listener);
    },
  });
  return (
    <LiveContext.Provider value={{ ...value.current, connected }}>{children}</LiveContext.Provider>
  );
}

/** Call `listener` with every message the socket sends while the component is mounted. */
export function useLive(listener: Listener): boolean {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside LiveProvider");
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => live.subscribe((message) => latest.current(message)), [live.subscribe]);
  return live.connected;
}
