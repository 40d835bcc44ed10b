import { clientAddressOf } from '../../src/domain/auth/client-address';

describe('clientAddressOf', () => {
  test.each([
    ['127.0.0.1:52114', '127.0.0.1'],
    ['10.1.2.3:1', '10.1.2.3'],
    // grpc-js writes IPv6 peers without brackets: the last colon starts the port.
    ['::1:52114', '0:0:0:0::/64'],
    ['::1:5432', '0:0:0:0::/64'],
    ['[2001:db8:1:2::7]:443', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd:50051', '2001:db8:1:2::/64'],
    ['fe80::1%eth0:9', 'fe80:0:0:0::/64'],
    // What a dual-stack listener reports for an IPv4 client.
    ['::ffff:127.0.0.1:40000', '127.0.0.1'],
    ['::ffff:7f00:2:40000', '127.0.0.2'],
  ])('when gRPC reports the peer %s, then its failures count under %s', (peer, address) => {
    expect(clientAddressOf(peer)).toBe(address);
  });

  test('when two IPv6 peers share a /64, then they share one address; another /64 is another address', () => {
    expect(clientAddressOf('2001:db8:0:1::1:1000')).toBe(clientAddressOf('2001:db8:0:1:ffff:ffff:ffff:ffff:2000'));
    expect(clientAddressOf('2001:db8:0:2::1:1000')).not.toBe(clientAddressOf('2001:db8:0:1::1:1000'));
  });

  test.each([
    ['203.0.113.9', '203.0.113.9'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::ffff:198.51.100.4', '198.51.100.4'],
    // Four hex digits at the end are a group, not a port, in a bare address.
    ['2001:db8:5:6::1:5432', '2001:db8:5:6::/64'],
  ])('when a bare address %s comes from a proxy header, then it counts under %s', (bare, address) => {
    expect(clientAddressOf(bare, false)).toBe(address);
  });

  test.each(['unknown', 'unix:/run/vault.sock', 'not-an-address:80'])('when the peer %s is not an IP address, then it is used as it is', (peer) => {
    expect(clientAddressOf(peer)).toBe(peer);
  });
});
