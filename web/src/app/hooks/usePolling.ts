// Data that is asked for again on a timer while the page is open: the server pushes vote
// outcomes and notifications, but not a voting opening or closing.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../../shared/api";

export interface Polled<T> {
  data: T | null;
  /** The last failure; the previous data stays on screen while polling goes on. */
  error: ApiError | null;
  /** Ask now (after an action), without waiting for the next tick. */
  reload: () => Promise<void>;
}

/**
 * Calls `load` at once and then `intervalMs` after each answer, so a slow server is never
 * asked twice at the same time by the timer. A changed `intervalMs` applies at once.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const latestLoad = useRef(load);
  latestLoad.current = load;
  const interval = useRef(intervalMs);
  interval.current = intervalMs;
  const reschedule = useRef<() => void>(() => {});
  // Answers can overtake each other (a reload during a tick): only the newest question's
  // answer is shown.
  const asked = useRef(0);
  const shown = useRef(0);

  const fetchOnce = useCallback(async () => {
    const question = ++asked.current;
    try {
      const answer = await latestLoad.current();
      if (question < shown.current) return;
      shown.current = question;
      setData(answer);
      setError(null);
    } catch (failure) {
      if (question < shown.current) return;
      setError(failure instanceof ApiError ? failure : new ApiError(0, "ERROR", String(failure)));
    }
  }, []);

  useEffect(() => {
    let stopped = false;
    let busy = false;
    let timer: number | undefined;
    const schedule = () => {
      window.clearTimeout(timer);
      if (!stopped && !busy) timer = window.setTimeout(tick, interval.current);
    };
    const tick = async () => {
      busy = true;
      await fetchOnce();
      busy = false;
      schedule();
    };
    reschedule.current = schedule;
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [fetchOnce]);

  useEffect(() => reschedule.current(), [intervalMs]);

  return { data, error, reload: fetchOnce };
}
