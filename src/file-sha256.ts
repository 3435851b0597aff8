import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The sha256 of a local file, hex, streamed (a tarball or a shipped build never sits in memory whole). */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
