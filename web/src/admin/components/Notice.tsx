// Messages above or below a form: failures are alerts (read out at once), successes are
// polite status updates.

import type { ReactNode } from "react";
import { explain } from "../errors";

export function ErrorNotice({ error }: { error: unknown }) {
  if (error === null || error === undefined || error === "") return null;
  return (
    <p className="notice notice-error" role="alert">
      {typeof error === "string" ? error : explain(error)}
    </p>
  );
}

export function SuccessNotice({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <p className="notice notice-success" role="status">
      {children}
    </p>
  );
}
