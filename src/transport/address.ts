/** `127.0.0.2:11211`, `[::1]:11211`: how an address and port read in messages. */
export function addressAndPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
