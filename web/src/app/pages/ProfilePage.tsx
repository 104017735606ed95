import { useEffect, useState } from "react";
import { useLocation } from "react-router";
import { idempotencyKey, request } from "../../shared/api";
import { useSession } from "../../shared/session";
import type { Checkout, CreditPack, Ledger, Preferences, Profile } from "../../shared/types";
import { PreferenceSwitch } from "../components/PreferenceSwitch";
import { ProblemMessage } from "../components/ProblemMessage";
import { ReceiptLink } from "../components/ReceiptLink";
import { genericProblem } from "../explain";
import type { Problem } from "../explain";
import { formatChange, formatCredits, formatDateTime, formatPrice } from "../format";

export function ProfilePage() {
  const { profile, refresh } = useSession();
  // Credits may have changed elsewhere (a grant, another device's vote) since login.
  useEffect(() => {
    void refresh().catch(() => undefined);
  }, [refresh]);
  useScrollToHash(profile !== null);
  if (!profile) return <p className="loading">Loading your profile…</p>;
  return (
    <section className="page">
      <h1>Your profile</h1>
      <p className="profile-who">
        {profile.display_name} · {profile.email}
      </p>
      <Credits profile={profile} />
      <BuyCredits />
      <PreferencesPanel preferences={profile.preferences} />
      <CreditHistory />
    </section>
  );
}

/** Links such as /profile#buy-credits (from "not enough credits") land on that part. */
function useScrollToHash(ready: boolean) {
  const { hash } = useLocation();
  useEffect(() => {
    if (!ready || !hash) return;
    const target = document.getElementById(hash.slice(1));
    target?.scrollIntoView({ block: "start" });
    target?.focus({ preventScroll: true });
  }, [ready, hash]);
}

function Credits({ profile }: { profile: Profile }) {
  return (
    <section className="panel" aria-labelledby="credits-heading">
      <h2 id="credits-heading">Credits</h2>
      <p className="balance">
        <span className="balance-number">{profile.credits}</span>{" "}
        {profile.credits === 1 ? "credit" : "credits"} available
      </p>
      {profile.credits_reserved > 0 && (
        <p className="hint">
          {formatCredits(profile.credits_reserved)} held for paid votes still being confirmed.
        </p>
      )}
      <p className="hint">A vote in a paid voting costs one credit; free votings cost nothing.</p>
    </section>
  );
}

function BuyCredits() {
  const [packs, setPacks] = useState<CreditPack[] | null>(null);
  const [buying, setBuying] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    let current = true;
    request<CreditPack[]>("/credit-packs")
      .then((answer) => current && setPacks(answer))
      .catch((error: unknown) => current && setProblem(genericProblem(error, "Loading the credit packs")));
    return () => {
      current = false;
    };
  }, []);

  const buy = async (pack: CreditPack) => {
    setBuying(pack.id);
    setProblem(null);
    try {
      const checkout = await request<Checkout>("/me/credits/checkout", {
        method: "POST",
        body: { pack_id: pack.id },
        headers: { "Idempotency-Key": idempotencyKey() },
      });
      // Stripe's own page takes the payment; it sends the browser back to /credits/success.
      window.location.assign(checkout.checkout_url);
    } catch (error) {
      setProblem(genericProblem(error, "Starting the payment"));
      setBuying(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="buy-credits">
      <h2 id="buy-credits" tabIndex={-1}>
        Buy credits
      </h2>
      {packs === null && !problem && <p className="loading">Loading credit packs…</p>}
      {packs && (
        <ul className="packs">
          {packs.map((pack) => (
            <li key={pack.id} className="pack">
              <span className="pack-name">{pack.name}</span>
              <span className="pack-price">{formatPrice(pack.price_cents, pack.currency)}</span>
              <button
                type="button"
                className="button-primary"
                disabled={buying !== null}
                onClick={() => void buy(pack)}
              >
                {buying === pack.id ? "Going to payment…" : "Buy"}
                <span className="visually-hidden"> {pack.name} for {formatPrice(pack.price_cents, pack.currency)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <p className="hint">You pay on Stripe's secure page and come straight back here.</p>
      {problem && <ProblemMessage problem={problem} />}
    </section>
  );
}

const SWITCHES: { key: keyof Preferences; label: string; description: string }[] = [
  {
    key: "reminders",
    label: "Reminders",
    description: "A reminder shortly before a voting you registered for opens.",
  },
  { key: "updates", label: "Updates", description: "News from the livevote team." },
  { key: "show_paid", label: "Show paid votings", description: "List votings that cost credits." },
];

function PreferencesPanel({ preferences }: { preferences: Preferences }) {
  const { refresh } = useSession();
  // Shown switched at once; put back if the server refuses.
  const [shown, setShown] = useState(preferences);
  const [saving, setSaving] = useState<keyof Preferences | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => setShown(preferences), [preferences]);

  const change = async (key: keyof Preferences, value: boolean) => {
    setShown((current) => ({ ...current, [key]: value }));
    setSaving(key);
    setSaved(null);
    setProblem(null);
    try {
      const answer = await request<Preferences>("/me/preferences", {
        method: "PATCH",
        body: { [key]: value },
      });
      setShown(answer);
      const label = SWITCHES.find((s) => s.key === key)?.label ?? key;
      setSaved(`${label} ${value ? "on" : "off"}. Saved.`);
      await refresh().catch(() => undefined);
    } catch (error) {
      setShown(preferences);
      setProblem(genericProblem(error, "Saving your preference"));
    } finally {
      setSaving(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="preferences">
      <h2 id="preferences" tabIndex={-1}>
        Notifications and display
      </h2>
      {SWITCHES.map(({ key, label, description }) => (
        <PreferenceSwitch
          key={key}
          label={label}
          description={description}
          checked={shown[key]}
          disabled={saving !== null}
          onChange={(value) => void change(key, value)}
        />
      ))}
      <p role="status" className="saved">
        {saved}
      </p>
      {problem && <ProblemMessage problem={problem} />}
    </section>
  );
}

const KINDS: Record<string, string> = {
  purchase: "Purchase",
  grant: "From livevote",
  vote: "Vote",
  refund: "Refund",
};

function CreditHistory() {
  const { profile } = useSession();
  const [ledger, setLedger] = useState<Ledger | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  // The balance changes when a vote or a payment lands: the history follows it.
  const balance = profile ? profile.credits + profile.credits_reserved : null;

  useEffect(() => {
    let current = true;
    request<Ledger>("/me/credits/ledger")
      .then((answer) => current && setLedger(answer))
      .catch((error: unknown) => current && setProblem(genericProblem(error, "Loading your credit history")));
    return () => {
      current = false;
    };
  }, [balance]);

  return (
    <section className="panel" aria-labelledby="history-heading">
      <h2 id="history-heading">Credit history</h2>
      {problem && <ProblemMessage problem={problem} />}
      {ledger === null && !problem && <p className="loading">Loading…</p>}
      {ledger && ledger.entries.length === 0 && <p className="empty">No credits bought or spent yet.</p>}
      {ledger && ledger.entries.length > 0 && (
        <div className="table-scroll">
          <table className="ledger">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col" className="amount">
                  Credits
                </th>
              </tr>
            </thead>
            <tbody>
              {ledger.entries.map((entry, index) => (
                <tr key={`${entry.at}-${index}`}>
                  <td>{formatDateTime(entry.at)}</td>
                  <td>
                    <span className="ledger-kind">{KINDS[entry.kind] ?? entry.kind}</span>
                    {entry.reason && <span className="ledger-reason">{entry.reason}</span>}
                    {entry.receipt_id && entry.receipt_url && (
                      <span className="ledger-receipt">
                        <ReceiptLink receiptId={entry.receipt_id} url={entry.receipt_url} />
                      </span>
                    )}
                  </td>
                  <td className={`amount ${entry.amount < 0 ? "amount-out" : "amount-in"}`}>
                    {formatChange(entry.amount)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
