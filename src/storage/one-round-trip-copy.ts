import type pg from 'pg';

/** A transaction sent as one simple-query message with its COPY data behind it (see runOneRoundTripCopy). */
export interface OneRoundTripCopy {
  /** Statements before the COPY (BEGIN, SET LOCAL, ...), joined by "; ". */
  readonly before: readonly string[];
  /** The `COPY ... FROM STDIN` statement. */
  readonly copy: string;
  /** Statements after it (the merge, COMMIT). */
  readonly after: readonly string[];
  /** The COPY data, text format, whole rows per chunk. */
  readonly chunks: readonly Buffer[];
}

/** The rows of the last statement of the script that returned rows, text values by column name. */
export type ScriptRows = Record<string, string | null>[];

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]); // 'c', length 4

interface FieldMessage {
  readonly fields: readonly { readonly name: string }[];
}

interface DataRowMessage {
  readonly fields: readonly (string | null)[];
}

/**
 * A pg submittable that writes a whole transaction in one go: the Query
 * message with every statement, then the COPY's CopyData messages and
 * CopyDone, in one writev, without waiting for CopyInResponse. PostgreSQL
 * reads them in order: it runs the statements before the COPY, reads the
 * data already waiting in the socket, then runs the rest. When a statement
 * fails, the server skips the rest of the script and ignores the CopyData
 * and CopyDone that follow (PostgreSQL's main loop accepts and drops them,
 * as the protocol allows for a COPY that failed), so the connection stays in
 * step. One round trip and one socket write replace the four round trips and
 * the separate header, data and CopyDone writes of BEGIN, COPY (through
 * pg-copy-streams), the merge and COMMIT: for groups of small calls the
 * writes and wake-ups were a fifth of the server's CPU (docs/performance.md).
 */
class OneRoundTripCopySubmittable {
  private columns: string[] | undefined;
  private rows: ScriptRows = [];
  private lastRows: ScriptRows = [];
  private settled = false;
  private error: Error | undefined;
  /** Statements the server has completed (one CommandComplete each). */
  private completed = 0;
  private readonly statements: number;
  readonly done: Promise<ScriptRows>;
  private resolve!: (rows: ScriptRows) => void;
  private reject!: (error: Error) => void;

  constructor(private readonly script: OneRoundTripCopy) {
    this.statements = script.before.length + 1 + script.after.length;
    this.done = new Promise<ScriptRows>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  // pg looks for this to install its query_timeout; we use none.
  callback(): void {}

  submit(connection: { stream: NodeJS.WritableStream & { cork(): void; uncork(): void }; query(text: string): void }): void {
    const stream = connection.stream;
    stream.cork();
    connection.query([...this.script.before, this.script.copy, ...this.script.after].join('; '));
    for (const chunk of this.script.chunks) {
      if (chunk.length === 0) continue;
      const header = Buffer.allocUnsafe(5);
      header[0] = COPY_DATA;
      header.writeUInt32BE(chunk.length + 4, 1);
      stream.write(header);
      stream.write(chunk);
    }
    stream.write(COPY_DONE);
    stream.uncork();
  }

  handleRowDescription(message: FieldMessage): void {
    this.columns = message.fields.map((field) => field.name);
    this.rows = [];
  }

  handleDataRow(message: DataRowMessage): void {
    const row: Record<string, string | null> = {};
    this.columns!.forEach((name, index) => (row[name] = message.fields[index] ?? null));
    this.rows.push(row);
  }

  handleCommandComplete(): void {
    this.completed++;
    if (this.columns !== undefined) this.lastRows = this.rows;
    this.columns = undefined;
    this.rows = [];
  }

  // The data was sent with the query; nothing to do when the server asks for it.
  handleCopyInResponse(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyData(): void {}

  /**
   * A server error (the script stopped there) or a lost connection (pg calls
   * this for the active query). Once every statement has completed, COMMIT
   * included, the script's outcome is known whatever comes after (say, the
   * connection's end before its ReadyForQuery): it succeeded.
   */
  handleError(error: Error): void {
    if (this.completed < this.statements) this.error ??= error;
    this.settle();
  }

  handleReadyForQuery(): void {
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.error) this.reject(this.error);
    else this.resolve(this.lastRows);
  }
}

/**
 * Runs `before; copy; after` as one simple-query message followed by the
 * COPY data, in one round trip. Resolves with the rows of the last statement
 * that returned rows (text values). Rejects with the server's error (pg's
 * DatabaseError: then nothing after the failing statement ran, and an open
 * transaction is in the aborted state) or with the connection's loss (then
 * the script may have run to its end).
 */
export function runOneRoundTripCopy(client: pg.ClientBase, script: OneRoundTripCopy): Promise<ScriptRows> {
  return client.query(new OneRoundTripCopySubmittable(script) as unknown as pg.Submittable & OneRoundTripCopySubmittable).done;
}
