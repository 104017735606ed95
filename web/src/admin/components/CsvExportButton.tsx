// Downloads a voting's results as CSV.

import { useState } from "react";
import { saveDownload } from "../saveDownload";
import { ErrorNotice } from "./Notice";

export function CsvExportButton({ votingId }: { votingId: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function exportCsv() {
    setBusy(true);
    setError(null);
    try {
      await saveDownload(
        `/admin/votings/${encodeURIComponent(votingId)}/results.csv`,
        `results-${votingId}.csv`,
      );
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
