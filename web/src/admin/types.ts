// Shapes of the operator-only API (services/gateway/routes/operations.py, admin_users.py,
// notifications.py) that web/src/shared/types.ts does not describe.

import type { LedgerEntry, Role } from "../shared/types";

export type ServiceStatus = "up" | "down";

export interface ServiceHealth {
  name: string;
  status: ServiceStatus;
  latency_ms: number | null;
  consumers?: number | null;
}

export interface QueueFacts {
  name: string;
  messages: number;
  consumers: number;
}

export interface SystemHealth {
  services: ServiceHealth[];
  queues: QueueFacts[];
  /** Why queue facts are missing (RabbitMQ's management API did not answer). */
  queues_error?: string | null;
  dead_letters: number;
}

export interface DeadLetter {
  id: string | null;
  type: string | null;
  queue: string | null;
  reason: string | null;
  died_at: string | null;
  deaths?: number;
  body: string;
}

export interface DeadLetterList {
  items: DeadLetter[];
  total: number;
}

export interface Replayed {
  replayed: number;
  /** Dead letters left in place because their queue is gone. */
  kept?: number;
}

export interface UserSummary {
  id: string;
  email: string;
  display_name: string;
  role: Role;
}

export interface UserList {
  items: UserSummary[];
}

export interface UserAccount extends UserSummary {
  credits: number;
  credits_reserved: number;
  ledger: LedgerEntry[];
}

export interface Balance {
  user_id: string;
  balance: number;
  reserved: number;
  available: number;
}

export interface UpdateAudience {
  audience: number;
}

export interface UpdateAccepted {
  id: string;
  audience: number;
}

/** One file of a day's archive (services/gateway/routes/archive.py). */
export interface ArchiveFile {
  name: string;
  bytes: number;
  /** Data rows, the header not counted. */
  rows: number;
  sha256: string;
  chunks: number;
}

export interface ArchiveDay {
  day: string;
  starts_at: string;
  ends_at: string;
  written_at: string;
  files: ArchiveFile[];
}

export interface ArchiveDays {
  days: ArchiveDay[];
}
