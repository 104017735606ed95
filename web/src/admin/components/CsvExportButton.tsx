// Downloads a voting's results as CSV. The export needs the bearer token, which a plain
// link cannot send, so it is fetched and handed to the browser as an object URL.

import { useState } from "react";
import { download } from "../../shared/api";
import { ErrorNotice } from "./Notice";

export function CsvExportButton({ votingId }: { votingId: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function exportCsv() {
    setBusy(true);
    setError(null);
    try {
      const blob = await download(`/admin/votings/${encodeURIComponent(votingId)}/results.csv`);
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = `results-${votingId}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      // Revoked after the click has been handled: the download has its own copy by then.
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" onClick={exportCsv} disabled={busy}>
        {busy ? "Exporting…" : "Export results as CSV"}
      </button>
      <ErrorNotice error={error} />
    </>
  );
}
