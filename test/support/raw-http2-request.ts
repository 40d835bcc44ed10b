import net from 'node:net';

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_ACK = 0x1;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541, 5.1). */
function hpackInteger(value: number, prefixBits: number, firstByte = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const bytes = [firstByte | max];
  for (value -= max; value >= 128; value >>= 7) bytes.push((value & 0x7f) | 0x80);
  bytes.push(value);
  return bytes;
}

/** "Literal Header Field without Indexing, New Name", no Huffman: one header as HPACK bytes. */
function literalHeader(name: string, value: string): Buffer {
  const nameBytes = Buffer.from(name);
  const valueBytes = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00, ...hpackInteger(nameBytes.length, 7)]), nameBytes, Buffer.from(hpackInteger(valueBytes.length, 7)), valueBytes]);
}

/**
 * Sends one gRPC request over a hand-made HTTP/2 connection, with `headers`
 * exactly as given, repeated names included (Node's and grpc-js's clients
 * refuse to send a header such as `authorization` twice). Resolves once the
 * server has ended the stream; the answer itself is read on the server's
 * side (its log), which spares this client an HPACK decoder.
 */
export function sendRawGrpcRequest(address: string, path: string, headers: readonly [string, string][], message: Buffer): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not end the stream within 10 s'));
    }, 10_000);
    const done = (): void => {
      clearTimeout(timer);
      socket.end();
      resolve();
    };
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const block = Buffer.concat(
      [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', address], ['content-type', 'application/grpc'], ['te', 'trailers'], ...headers].map(([name, value]) => literalHeader(name!, value!)),
    );
    const body = Buffer.alloc(5 + message.length);
    body.writeUInt32BE(message.length, 1);
    message.copy(body, 5);
    socket.write(
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)), frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, block), frame(FRAME_DATA, FLAG_END_STREAM, 1, body)]),
    );
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const [type, flags, streamId] = [pending.readUInt8(3), pending.readUInt8(4), pending.readUInt32BE(5) & 0x7fffffff];
        pending = pending.subarray(9 + length);
        if (type === FRAME_SETTINGS && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        if (streamId === 1 && (type === FRAME_RST_STREAM || ((type === FRAME_HEADERS || type === FRAME_DATA) && (flags & FLAG_END_STREAM) !== 0))) done();
      }
    });
  });
}
