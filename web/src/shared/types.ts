// The HTTP API's shapes (services/gateway/schemas.py and contracts/), as the pages use them.

export type VotingKind = "free" | "paid";
export type VotingStatus = "scheduled" | "open" | "closed" | "cancelled";
export type VoteStatus = "confirmed" | "pending" | "rejected";
export type Role = "user" | "admin";

export interface ApiErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export interface FieldError {
  loc: (string | number)[];
  message: string;
  type: string;
}

export interface Token {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface Preferences {
  reminders: boolean;
  updates: boolean;
  show_paid: boolean;
}

export interface Profile {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  credits: number;
  credits_reserved: number;
  preferences: Preferences;
}

export interface VotingOption {
  id: string;
  label: string;
}

export interface MyVote {
  vote_id: string;
  option_id: string;
  status: VoteStatus;
}

export interface VotingTile {
  id: string;
  title: string;
  description: string;
  kind: VotingKind;
  cost: number;
  opens_at: string;
  closes_at: string;
  /** Set when the operator closed the voting before closes_at. */
  closed_at: string | null;
  status: VotingStatus;
  options: VotingOption[];
  registered: boolean;
  my_vote: MyVote | null;
}

export interface Vote {
  vote_id: string;
  status: VoteStatus;
  voting_id: string;
  option_id: string;
  reason: string | null;
}

export interface OptionResult {
  id: string;
  label: string;
  votes: number;
}

export interface Results {
  voting_id: string;
  status: VotingStatus;
  total: number;
  options: OptionResult[];
}

export interface CreditPack {
  id: string;
  name: string;
  credits: number;
  price_cents: number;
  currency: string;
}

export interface Checkout {
  checkout_url: string;
  session_id: string;
}

export interface LedgerEntry {
  at: string;
  kind: string;
  amount: number;
  reason: string;
  reference: string | null;
  /** A purchase's or a refund's receipt, and where its PDF is downloaded. */
  receipt_id?: string | null;
  receipt_url?: string | null;
}

export interface Ledger {
  user_id: string;
  balance: number;
  entries: LedgerEntry[];
}

export type NotificationKind = "reminder" | "alert" | "update";

export interface Notification {
  id: string;
  kind: NotificationKind;
  title: string;
  body: string;
  voting_id: string | null;
  created_at: string;
  read: boolean;
}

export interface Inbox {
  items: Notification[];
  unread: number;
  next_cursor: string | null;
}

export interface Delivery {
  id: string;
  kind: NotificationKind;
  title: string;
  voting_id?: string | null;
  audience: number;
  inboxed: number;
  in_app: number;
  pushed: number;
  failed: number;
  tokens_removed: number;
  without_device: number;
  done: boolean;
  created_at: string;
}

// What the WebSocket at /api/v1/ws sends.
export type SocketMessage =
  | { type: "connected"; user_id: string }
  | { type: "notification"; notification: Notification }
  | { type: "vote.confirmed"; voting_id: string; vote_id: string; option_id: string }
  | { type: "vote.rejected"; voting_id: string; vote_id: string; reason: string };
