// How times, credits and money read on the voter's screen: always in the browser's own
// language and time zone, since a voting's window is set by an operator somewhere else.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

function parse(iso: string): Date | null {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "12 May 2026, 18:00" in the user's locale and time zone. */
export function formatDateTime(iso: string): string {
  const date = parse(iso);
  return date ? dateTime.format(date) : iso;
}

/** "18:00" when the instant is today, else the date too. */
export function formatWhen(iso: string, now: number = Date.now()): string {
  const date = parse(iso);
  if (!date) return iso;
  return new Date(now).toDateString() === date.toDateString()
    ? `today at ${timeOnly.format(date)}`
    : dateTime.format(date);
}

/** A voting's window, "12 May 2026, 18:00 – 19:00", the date written once when it can be. */
export function formatWindow(opensAt: string, closesAt: string): string {
  const opens = parse(opensAt);
  const closes = parse(closesAt);
  if (!opens || !closes) return `${opensAt} – ${closesAt}`;
  return dateTime.formatRange(opens, closes);
}

/** Time left until `target`: "2 d 3 h", "1:02:03", "4:05"; "0:00" once it has passed. */
export function formatCountdown(target: string, now: number): string {
  const at = parse(target);
  const left = Math.max(0, Math.ceil(((at?.getTime() ?? now) - now) / 1000));
  const days = Math.floor(left / 86_400);
  const hours = Math.floor((left % 86_400) / 3600);
  const minutes = Math.floor((left % 3600) / 60);
  const seconds = left % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours}:${two(minutes)}:${two(seconds)}`;
  return `${minutes}:${two(seconds)}`;
}

/** True once `iso` is at or before `now`. */
export function hasPassed(iso: string, now: number): boolean {
  const at = parse(iso);
  return at !== null && at.getTime() <= now;
}

/** "1 credit", "5 credits". */
export function formatCredits(amount: number): string {
  return `${amount} ${Math.abs(amount) === 1 ? "credit" : "credits"}`;
}

/** A signed ledger amount: "+5", "−1". */
export function formatChange(amount: number): string {
  return amount > 0 ? `+${amount}` : amount < 0 ? `−${Math.abs(amount)}` : "0";
}

/** A price in cents of a currency ("eur"), as the user's locale writes money. */
export function formatPrice(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() })
      .format(cents / 100);
  } catch {
    // An unknown currency code: the plain amount is still right.
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}
