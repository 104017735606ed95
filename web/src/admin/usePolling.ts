// Polling while a page is open: the pages show live numbers (votes, deliveries, queue
// depths) that nothing pushes to the admin, so they ask again on a timer.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../shared/api";

export interface Polled<T> {
  data: T | null;
  /** The last failure; the previous data stays on screen while the poll retries. */
  error: ApiError | null;
  /** Ask now (after an action), without waiting for the next tick. */
  reload: () => Promise<void>;
}

/**
 * Calls `load` at once and then every `intervalMs` while the component is mounted and
 * `enabled` is true. A new call starts only after the previous one has answered, so a
 * slow server is never asked twice at the same time; `key` restarts the polling (e.g. a
 * different voting).
 */
export function usePolling<T>(
  load: () => Promise<T>,
  intervalMs: number,
  key: unknown = null,
  enabled = true,
): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const latestLoad = useRef(load);
  latestLoad.current = load;
  // Answers to an earlier key must not overwrite the current one's.
  const generation = useRef(0);

  const fetchOnce = useCallback(async (asked: number) => {
    try {
      const answer = await latestLoad.current();
      if (asked !== generation.current) return;
      setData(answer);
      setError(null);
    } catch (failure) {
      if (asked !== generation.current) return;
      setError(failure instanceof ApiError ? failure : new ApiError(0, "ERROR", String(failure)));
    }
  }, []);

  // Another voting's numbers must not stay on screen as if they were this one's.
  // (Declared first, so it runs before the polling effect below on the same change.)
  useEffect(() => {
    generation.current += 1;
    setData(null);
    setError(null);
  }, [key]);

  useEffect(() => {
    if (!enabled) return;
    const asked = generation.current;
    let stopped = false;
    let timer: number | undefined;
    const tick = async () => {
      await fetchOnce(asked);
      if (!stopped) timer = window.setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [enabled, intervalMs, key, fetchOnce]);

  const reload = useCallback(() => fetchOnce(generation.current), [fetchOnce]);
  return { data, error, reload };
}
