// How far a sent update has got, asked for every second until the notifier says it is
// done (it fans out in chunks, so the numbers climb for a while on a large audience).

import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { request } from "../../shared/api";
import type { Delivery } from "../../shared/types";
import { ErrorNotice } from "../components/Notice";
import { formatTime } from "../time";
import { usePolling } from "../usePolling";

const PROGRESS_MS = 1000;

export function DeliveryPage() {
  const { updateId = "" } = useParams();
  // Polling stops once an answer says the delivery is done: its numbers are final then.
  const [finished, setFinished] = useState(false);
  const progress = usePolling(
    () => request<Delivery>(`/admin/updates/${encodeURIComponent(updateId)}`),
    PROGRESS_MS,
    updateId,
    !finished,
  );
  const delivery = progress.data;
  const done = delivery?.done ?? false;
  useEffect(() => setFinished(done), [done]);

  return (
    <section aria-labelledby="delivery-title">
      <p>
        <Link to="/admin/updates">← Compose another update</Link>
      </p>
      <h2 id="delivery-title">Delivery{delivery ? `: “${delivery.title}”` : ""}</h2>
      <ErrorNotice error={progress.error} />
      {!delivery && !progress.error && <p className="loading">Loading the delivery…</p>}
      {delivery && (
        <div className="card">
          <p role="status" className={done ? "delivery-done" : "delivery-running"}>
            {done ? "Delivered: done." : "Delivering…"} Sent {formatTime(delivery.created_at)}.
          </p>
          <label className="progress-label">
            In the inbox of {delivery.inboxed} of {delivery.audience} user{delivery.audience === 1 ? "" : "s"}
            <progress max={Math.max(delivery.audience, 1)} value={done && !delivery.audience ? 1 : delivery.inboxed} />
          </label>
          <dl className="facts counters">
            <Counter label="Audience" value={delivery.audience} />
            <Counter label="In the inbox" value={delivery.inboxed} />
            <Counter label="Shown in the app" value={delivery.in_app} />
            <Counter label="Pushed to devices" value={delivery.pushed} />
            <Counter label="Failed pushes" value={delivery.failed} />
            <Counter label="Dead device tokens removed" value={delivery.tokens_removed} />
            <Counter label="Offline without a device" value={delivery.without_device} />
          </dl>
        </div>
      )}
    </section>
  );
}

function Counter({ label, value }: { label: string; value: number }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
