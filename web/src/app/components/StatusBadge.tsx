import type { VotingStatus } from "../../shared/types";

const LABELS: Record<VotingStatus, string> = {
  scheduled: "Scheduled",
  open: "Open",
  closed: "Closed",
  cancelled: "Cancelled",
};

export function StatusBadge({ status }: { status: VotingStatus }) {
  return <span className={`status status-${status}`}>{LABELS[status]}</span>;
}
