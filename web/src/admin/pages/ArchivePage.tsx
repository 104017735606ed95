// The daily archive: every day written so far, newest first, with its files (a CSV per
// voting that ended that day, the day's credit changes, its notifications), each a
// download. A day appears once it is written, after the archive's time of day.

import { useState } from "react";
import { request } from "../../shared/api";
import { ErrorNotice } from "../components/Notice";
import { ScrollTable } from "../components/ScrollTable";
import { saveDownload } from "../../shared/api";
import { formatTime } from "../time";
import type { ArchiveDay, ArchiveDays, ArchiveFile } from "../types";
import { usePolling } from "../usePolling";

const REFRESH_MS = 30_000;

export function ArchivePage() {
  const archive = usePolling(() => request<ArchiveDays>("/admin/archive"), REFRESH_MS);
  const days = archive.data?.days;
  return (
    <section aria-labelledby="archive-title">
      <h2 id="archive-title">Archive</h2>
      <p className="muted">
        Each day is written once, early the next day: the votings that ended that day with
        their votes, every credit change, and the notifications sent to many users.
      </p>
      <ErrorNotice error={archive.error} />
      {!days && !archive.error && <p className="loading">Reading the archive…</p>}
      {days && days.length === 0 && <p>No day has been archived yet.</p>}
      {days?.map((day) => <ArchivedDay key={day.day} day={day} />)}
    </section>
  );
}

function ArchivedDay({ day }: { day: ArchiveDay }) {
  const label = `Day ${day.day}`;
  return (
    <section className="card" aria-label={label}>
      <h3>{day.day}</h3>
      <p className="muted">
        From {formatTime(day.starts_at)} to {formatTime(day.ends_at)}; written{" "}
        {formatTime(day.written_at)}.
      </p>
      <ScrollTable label={`Files of ${day.day}`}>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Rows</th>
            <th scope="col">Size</th>
            <th scope="col">Download</th>
          </tr>
        </thead>
        <tbody>
          {day.files.map((file) => (
            <tr key={file.name}>
              <th scope="row">{file.name}</th>
              <td>{file.rows}</td>
              <td>{size(file.bytes)}</td>
              <td>
                <DownloadButton day={day.day} file={file} />
              </td>
            </tr>
          ))}
        </tbody>
      </ScrollTable>
    </section>
  );
}

function DownloadButton({ day, file }: { day: string; file: ArchiveFile }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function save() {
    setBusy(true);
    setError(null);
    try {
      const path = `/admin/archive/${encodeURIComponent(day)}/${encodeURIComponent(file.name)}`;
      await saveDownload(path, `${day}-${file.name}`);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" onClick={save} disabled={busy} aria-label={`Download ${file.name} of ${day}`}>
        {busy ? "Downloading…" : "Download"}
      </button>
      <ErrorNotice error={error} />
    </>
  );
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
