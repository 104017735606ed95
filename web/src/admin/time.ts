// The API takes ISO 8601 times with an offset; <input type="datetime-local"> gives and
// takes the browser's wall-clock time without one. These convert between the two.

const pad = (n: number, width = 2) => String(Math.trunc(Math.abs(n))).padStart(width, "0");

/** "2026-12-31T18:00:00+01:00": the instant as the browser's local time with its offset. */
export function isoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset(); // minutes east of UTC
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${localInputValue(date)}${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

/** The value a datetime-local input shows for this instant (seconds included). */
export function localInputValue(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** A datetime-local input's value as ISO with offset; null when empty or malformed. */
export function inputToIso(value: string): string | null {
  if (!value) return null;
  // Without a zone, Date reads "YYYY-MM-DDTHH:mm[:ss]" as local time, which is the point.
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : isoWithOffset(date);
}

/** An ISO time from the API, as a datetime-local input's value. */
export function isoToInput(iso: string): string {
  return localInputValue(new Date(iso));
}

const formatter = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "medium",
});

/** An API time for people to read, in the browser's time zone. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : formatter.format(date);
}
