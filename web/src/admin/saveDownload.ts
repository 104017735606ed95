// Downloads a file of the API (CSV) to the operator's computer. The API needs the bearer
// token, which a plain link cannot send, so the file is fetched and handed to the
// browser as an object URL.

import { download } from "../shared/api";

export async function saveDownload(path: string, filename: string): Promise<void> {
  const blob = await download(path);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked after the click has been handled: the download has its own copy by then.
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
