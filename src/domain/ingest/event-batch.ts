import type { ValidEvent } from './ingest-event';

/** Per-event bookkeeping added to the payload's size when estimating a batch's memory. */
const EVENT_OVERHEAD_BYTES = 64;

/**
 * Events waiting to be written together, with their ids unique: a later copy
 * of an id already in the batch is refused (it is a duplicate of this call;
 * the first copy wins).
 */
export class EventBatch {
  readonly events: ValidEvent[] = [];
  private readonly ids = new Set<string>();
  private estimatedBytes = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  /** Adds the event; false (and nothing added) when its id is already in the batch. */
  add(event: ValidEvent): boolean {
    if (this.ids.has(event.eventId)) return false;
    this.ids.add(event.eventId);
    this.events.push(event);
    this.estimatedBytes += event.payloadJson.length + event.eventId.length + event.serviceName.length + event.eventType.length + EVENT_OVERHEAD_BYTES;
    return true;
  }

  get size(): number {
    return this.events.length;
  }

  get isEmpty(): boolean {
    return this.events.length === 0;
  }

  /** Whether it should be written now: the configured event count or (estimated, UTF-16 based) size is reached. */
  get isFull(): boolean {
    return this.events.length >= this.maxEvents || this.estimatedBytes >= this.maxBytes;
  }
}
