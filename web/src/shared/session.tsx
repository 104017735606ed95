// The signed-in user: the access token kept across reloads, the profile, and logging out
// when the token expires (with a message for the login page).

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { request, setSession } from "./api";
import type { Profile, Token } from "./types";

const STORAGE_KEY = "livevote.session";

interface Stored {
  token: string;
  expiresAt: number; // ms since the epoch
}

export interface Session {
  token: string | null;
  profile: Profile | null;
  /** Why the user was logged out, for the login page to say. */
  notice: string | null;
  login(email: string, password: string): Promise<Profile>;
  signup(email: string, password: string, displayName: string): Promise<Profile>;
  logout(notice?: string): void;
  refresh(): Promise<Profile | null>;
}

const SessionContext = createContext<Session | null>(null);

function load(): Stored | null {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") as Stored | null;
  } catch {
    return null;
  }
}

const live = (stored: Stored | null): boolean => stored !== null && stored.expiresAt > Date.now();

const EXPIRED = "Your session has expired. Please log in again.";

export function SessionProvider({ children }: { children: ReactNode }) {
  // A token that expired while the page was closed leads to the login page, which says so.
  const [initial] = useState(load);
  const [stored, setStored] = useState<Stored | null>(live(initial) ? initial : null);
  const [notice, setNotice] = useState<string | null>(initial && !live(initial) ? EXPIRED : null);
  const [profile, setProfile] = useState<Profile | null>(null);

  const logout = useCallback((why?: string) => {
    localStorage.removeItem(STORAGE_KEY);
    setStored(null);
    setProfile(null);
    setNotice(why ?? null);
  }, []);

  // Synchronously, so the first requests of the children carry the token.
  setSession(stored?.token ?? null, () => logout(EXPIRED));

  useEffect(() => {
    if (!stored) return;
    const left = stored.expiresAt - Date.now();
    const timer = window.setTimeout(() => logout(EXPIRED), Math.max(0, left));
    return () => window.clearTimeout(timer);
  }, [stored, logout]);

  const refresh = useCallback(async () => {
    if (!stored) return null;
    const me = await request<Profile>("/me");
    setProfile(me);
    return me;
  }, [stored]);

  useEffect(() => {
    void refresh().catch(() => undefined);
  }, [refresh]);

  const start = useCallback(async (token: Token) => {
    const next = { token: token.access_token, expiresAt: Date.now() + token.expires_in * 1000 };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    setSession(next.token, () => logout(EXPIRED));
    const me = await request<Profile>("/me");
    setStored(next);
    setProfile(me);
    setNotice(null);
    return me;
  }, [logout]);

  const login = useCallback(
    async (email: string, password: string) =>
      start(await request<Token>("/auth/login", { method: "POST", body: { email, password } })),
    [start],
  );

  const signup = useCallback(
    async (email: string, password: string, displayName: string) => {
      await request("/auth/signup", {
        method: "POST",
        body: { email, password, display_name: displayName },
      });
      return login(email, password);
    },
    [login],
  );

  const value = useMemo<Session>(
    () => ({ token: stored?.token ?? null, profile, notice, login, signup, logout, refresh }),
    [stored, profile, notice, login, signup, logout, refresh],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
