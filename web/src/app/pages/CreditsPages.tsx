// Where Stripe Checkout sends the buyer back. The credits arrive when Stripe's webhook
// reaches the wallet, which may be before or after the browser returns, so the success
// page watches the ledger for this payment instead of trusting the redirect.

import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { request } from "../../shared/api";
import { useSession } from "../../shared/session";
import type { Ledger, LedgerEntry } from "../../shared/types";
import { formatCredits } from "../format";

const CHECK_MS = 2000;
// After this long the page stops watching and says the payment may take longer.
const PATIENCE_MS = 120_000;

export function CreditsSuccessPage() {
  const [params] = useSearchParams();
  const sessionId = params.get("session_id");
  const { refresh } = useSession();
  const [purchase, setPurchase] = useState<LedgerEntry | null>(null);
  const [balance, setBalance] = useState<number | null>(null);
  const [gaveUp, setGaveUp] = useState(false);

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const started = Date.now();
    let firstBalance: number | null = null;
    const check = async () => {
      try {
        const ledger = await request<Ledger>("/me/credits/ledger");
        if (stopped) return;
        setBalance(ledger.balance);
        firstBalance ??= ledger.balance;
        // Without Stripe's session id (a bookmarked page), any new purchase will do.
        const landed = sessionId
          ? ledger.entries.find((entry) => entry.kind === "purchase" && entry.reference === sessionId)
          : ledger.balance > firstBalance
            ? ledger.entries.find((entry) => entry.kind === "purchase")
            : undefined;
        if (landed) {
          setPurchase(landed);
          // The header's balance, too.
          void refresh().catch(() => undefined);
          return;
        }
      } catch {
        // Asked again below: a busy wallet answers later.
      }
      if (stopped) return;
      if (Date.now() - started > PATIENCE_MS) setGaveUp(true);
      else timer = window.setTimeout(check, CHECK_MS);
    };
    void check();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [sessionId, refresh]);

  return (
    <section className="page page-narrow">
      <h1>Thank you for your purchase</h1>
      <div className="panel" role="status">
        {purchase ? (
          <>
            <p className="message message-success">
              ✓ Payment received: {formatCredits(purchase.amount)} added to your account.
            </p>
            <p className="balance">
              Your balance: <span className="balance-number">{balance}</span>{" "}
              {balance === 1 ? "credit" : "credits"}
            </p>
          </>
        ) : gaveUp ? (
          <p className="message message-notice">
            Your payment has not reached us yet. It can take a few minutes; the credits appear
            on your profile as soon as it does.
          </p>
        ) : (
          <>
            <p className="message message-pending">
              Your payment is being confirmed. Your credits appear here as soon as it lands.
            </p>
            {balance !== null && (
              <p className="balance">
                Current balance: <span className="balance-number">{balance}</span>{" "}
                {balance === 1 ? "credit" : "credits"}
              </p>
            )}
          </>
        )}
      </div>
      <p>
        <Link to="/">Back to the votings</Link> · <Link to="/profile">Your profile</Link>
      </p>
    </section>
  );
}

export function CreditsCancelledPage() {
  return (
    <section className="page page-narrow">
      <h1>Payment cancelled</h1>
      <div className="panel">
        <p>You cancelled the payment, so nothing was charged and your credits are unchanged.</p>
        <p>
          <Link to="/profile#buy-credits">Choose a credit pack again</Link> or{" "}
          <Link to="/">go back to the votings</Link>.
        </p>
      </div>
    </section>
  );
}
