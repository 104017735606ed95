// A ledger entry's receipt, a PDF the buyer keeps. Saved through the API client, which
// sends the session's token; the link's address is the API's, for what it says.

import { useState } from "react";
import type { MouseEvent } from "react";
import { saveDownload } from "../../shared/api";
import { genericProblem } from "../explain";
import type { Problem } from "../explain";
import { ProblemMessage } from "./ProblemMessage";

export function ReceiptLink({ receiptId, url }: { receiptId: string; url: string }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const filename = `livevote-${receiptId}.pdf`;

  async function save(event: MouseEvent<HTMLAnchorElement>) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setProblem(null);
    try {
      await saveDownload(`/me/credits/receipts/${encodeURIComponent(receiptId)}`, filename);
    } catch (error) {
      setProblem(genericProblem(error, "Downloading the receipt"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <a href={url} download={filename} onClick={save} aria-label={`Receipt ${receiptId} (PDF)`}>
        {busy ? "Receipt: downloading…" : "Receipt"}
      </a>
      {problem && <ProblemMessage problem={problem} />}
    </>
  );
}
