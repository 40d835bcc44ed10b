import http2 from 'node:http2';

/**
 * A server-streaming gRPC call made over plain HTTP/2, that reads nothing
 * until `resume()`: a slow reader the server meets through HTTP/2 flow control.
 * (A grpc-js client is no use for this: it keeps reading messages into its own
 * memory whether or not the application consumes them.)
 */
export interface RawServerStream {
  /** Starts reading; resolves with every message and the grpc-status once the call ends. */
  readAll(): Promise<{ messages: Buffer[]; grpcStatus: string | undefined }>;
  /** Resets the stream with CANCEL, as a client that goes away. */
  cancel(): void;
  close(): void;
}

export function openRawServerStream(address: string, path: string, request: Uint8Array, metadata: Record<string, string>): RawServerStream {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
  stream.on('error', () => undefined);
  let grpcStatus: string | undefined;
  const recordStatus = (headers: http2.IncomingHttpHeaders): void => {
    const value = headers['grpc-status'];
    if (typeof value === 'string') grpcStatus = value;
  };
  stream.on('response', recordStatus);
  stream.on('trailers', recordStatus);
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  Buffer.from(request).copy(frame, 5);
  stream.end(frame);
  stream.pause();
  return {
    readAll: () =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('end', () => resolve({ messages: splitMessages(Buffer.concat(chunks)), grpcStatus }));
        stream.resume();
      }),
    cancel: () => stream.close(http2.constants.NGHTTP2_CANCEL),
    close: () => session.close(),
  };
}

/** The messages of a gRPC body: each a compression flag, a 4-byte length and the bytes. */
function splitMessages(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const length = body.readUInt32BE(at + 1);
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}
