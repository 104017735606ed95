// A status as a word in a coloured pill: the word carries the meaning, the colour helps.

const LABELS: Record<string, string> = {
  scheduled: "Scheduled",
  open: "Open",
  closed: "Closed",
  cancelled: "Cancelled",
  up: "Up",
  down: "Down",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{LABELS[status] ?? status}</span>;
}
