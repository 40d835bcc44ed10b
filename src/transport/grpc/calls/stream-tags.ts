import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Metadata, Server } from '@grpc/grpc-js';
import { boundHttp2Servers } from '../bound-http2-servers';

/**
 * What a listener on the raw HTTP/2 streams set up for each call, found
 * again from the call's metadata. grpc-js has no hook between the wire and
 * a call, so a 'stream' listener on each bound HTTP/2 server opens an entry
 * for every new stream and puts its number in the stream's request headers
 * under `header` (which grpc-js turns into the call's metadata); an
 * interceptor or handler claims it from there (taking the header out). The
 * entry is closed when its stream closes, claimed or not.
 */
export class StreamTags<T> {
  private readonly entries = new Map<string, T>();
  private nextNumber = 0;

  constructor(
    /** The request header the number travels in (only this code may set it: a client's own value is overwritten). */
    private readonly header: string,
    /** Who tags the streams, named in the start-up error when grpc-js's servers cannot be reached. */
    private readonly purpose: string,
    private readonly open: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => T,
    private readonly close: (entry: T) => void,
  ) {}

  /** Tags the streams of every port the server has bound. Call it after every bind. */
  track(server: Server): void {
    for (const http2Server of boundHttp2Servers(server, this.purpose)) {
      http2Server.prependListener('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.tag(stream, headers));
    }
  }

  /** The entry of the call whose request metadata this is, taken out of the metadata. */
  claim(metadata: Metadata): T | undefined {
    const number = metadata.get(this.header)[0];
    metadata.remove(this.header);
    return typeof number === 'string' ? this.entries.get(number) : undefined;
  }

  private tag(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const number = String(this.nextNumber++);
    const entry = this.open(stream, headers);
    this.entries.set(number, entry);
    headers[this.header] = number;
    stream.on('close', () => {
      this.entries.delete(number);
      this.close(entry);
    });
  }
}
