import net from 'node:net';

/**
 * The address a client's failed authentications are counted under, from a
 * peer as gRPC reports it (`127.0.0.1:52114`, or `::1:52114`: IPv6 without
 * brackets, so the port must be known to be there) or, with `hasPort` false,
 * a bare address (from a proxy's header):
 *
 * * the port is dropped: every connection of a host shares one budget;
 * * an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack
 *   listener reports for IPv4 clients) is its IPv4 address;
 * * an IPv6 address counts as its /64 network (`2001:db8:0:1::/64`): one
 *   host usually holds a whole /64 and could otherwise take a fresh address,
 *   and a fresh budget, for every guess;
 * * anything else (a Unix socket, `unknown`) is used as it is.
 */
export function clientAddressOf(peer: string, hasPort = true): string {
  const host = hasPort ? withoutPort(peer) : net.isIP(peer) !== 0 ? peer : undefined;
  if (host === undefined) return peer;
  if (net.isIPv4(host)) return host;
  const groups = expandIpv6(host);
  if (groups === undefined) return host;
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The address of `host:port`, when the part before the last colon is an IP address. */
function withoutPort(peer: string): string | undefined {
  const colon = peer.lastIndexOf(':');
  if (colon <= 0 || !/^\d+$/.test(peer.slice(colon + 1))) return undefined;
  const host = peer.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) !== 0 ? host : undefined;
}

/** The eight 16-bit groups of an IPv6 address (undefined for anything else). */
function expandIpv6(address: string): number[] | undefined {
  if (!net.isIPv6(address)) return undefined;
  let text = address.replace(/%.*$/, '');
  // A trailing dotted IPv4 part stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
