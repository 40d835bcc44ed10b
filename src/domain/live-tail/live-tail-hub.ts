import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/create-logger';
import { canonicalJson } from '../query/canonical-json';
import type { EventSelection, StoredEvent } from '../query/event-reader';
import { VaultError } from '../vault-error';
import { Follower, FollowBuffers, type BufferLimits } from './follower';
import type { CommitNotice, CommitNoticeSource, LiveTailRepository } from './live-tail-store';

/** How the hub bounds its work (FOLLOW_* and QUERY_STATEMENT_TIMEOUT). */
export interface HubSettings {
  readonly buffer: BufferLimits;
  /** FOLLOW_BUFFERS_MAX_BYTES: what all the followers together hold (see FollowBuffers). */
  readonly buffersMaxBytes: number;
  readonly registrationTtlMs: number;
  /** Bounds each read of a notice's events. */
  readonly statementTimeoutMs: number;
}

/** The followers of one tenant with one filter and payload format: each notice's events are read once for all of them. */
interface FilterGroup {
  readonly selection: EventSelection;
  readonly payloadAsJson: boolean;
  readonly followers: Set<Follower>;
}

/** This instance's registration of a tenant: how many follow calls use it, and when it is in force. */
interface TenantRegistration {
  followers: number;
  ready: Promise<void>;
  registered: boolean;
}

/**
 * The instance's live tail hub: one LISTEN connection (CommitNoticeSource)
 * and one registration per followed tenant, multiplexed over every follow
 * call of the instance. Each commit notice is read once per (tenant, filter,
 * payload format) that has a follower wanting it, with the filter in SQL, and
 * queued to those followers in notice order (commit order). When the
 * listener's connection is lost, notices may have been missed: every
 * follower fails with UNAVAILABLE (the next follow connects again), and so
 * do the followers of a tenant whose registration was lost.
 */
export class LiveTailHub {
  readonly instanceId = randomUUID();
  private readonly groups = new Map<string, Map<string, FilterGroup>>();
  private readonly tenants = new Map<string, TenantRegistration>();
  /** Deregistrations in flight, which a new registration of the tenant waits for. */
  private readonly leaving = new Map<string, Promise<void>>();
  /** Bumped when the listener is lost: a follow that began listening before must not subscribe after. */
  private generation = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastRefreshAt = Date.now();
  private closed = false;
  /** Aborts the notices' reads in flight at close. */
  private readonly reads = new AbortController();
  private readonly buffers: FollowBuffers;

  constructor(
    private readonly source: CommitNoticeSource,
    private readonly repository: LiveTailRepository,
    private readonly settings: HubSettings,
    private readonly eventBytes: (event: StoredEvent) => number,
    private readonly logger: Logger,
  ) {
    this.buffers = new FollowBuffers(settings.buffersMaxBytes);
    source.onNotice((notice) => this.dispatch(notice));
    source.onLost(() => {
      this.generation++;
      this.failAll(new VaultError('UNAVAILABLE', 'the server lost its database connection for live tail, so new events could be missed: follow again with the same filter and drop the events already received (docs/api.md, "Resuming a follow")', { retryAfterMs: 1000 }));
    });
  }

  /**
   * A new follower of `selection`: once this resolves, the instance listens,
   * the tenant is registered (every writer transaction that commits from
   * now on notifies it) and the follower receives every notice. The caller
   * then reads the stored part in a snapshot taken after this resolved and
   * sets it on the follower.
   */
  async follow(selection: EventSelection, payloadAsJson: boolean): Promise<Follower> {
    if (this.closed) throw new VaultError('UNAVAILABLE', 'the server is shutting down', { retryAfterMs: 1000 });
    await this.source.listen();
    const generation = this.generation;
    const { tenantId } = selection;
    let registration = this.tenants.get(tenantId);
    if (registration === undefined) {
      const created: TenantRegistration = { followers: 0, registered: false, ready: Promise.resolve() };
      created.ready = (async () => {
        await this.leaving.get(tenantId);
        await this.repository.register(tenantId, this.instanceId, this.settings.registrationTtlMs);
        created.registered = true;
      })();
      registration = created;
      this.tenants.set(tenantId, registration);
      this.scheduleRefresh();
    }
    registration.followers++;
    try {
      await registration.ready;
    } catch (error) {
      this.releaseTenant(tenantId);
      throw error;
    }
    if (generation !== this.generation || this.closed) {
      this.releaseTenant(tenantId);
      throw new VaultError('UNAVAILABLE', 'the server lost its database connection for live tail while the follow started: retry the call', { retryAfterMs: 1000 });
    }
    const key = canonicalJson({ filter: { ...selection.filter, startUs: selection.filter.startUs?.toString(), endUs: selection.filter.endUs?.toString() }, payloadAsJson });
    let byFilter = this.groups.get(tenantId);
    if (byFilter === undefined) this.groups.set(tenantId, (byFilter = new Map()));
    let group = byFilter.get(key);
    if (group === undefined) byFilter.set(key, (group = { selection, payloadAsJson, followers: new Set() }));
    const joined = group;
    const follower = new Follower(this.settings.buffer, this.eventBytes, () => {
      joined.followers.delete(follower);
      if (joined.followers.size === 0 && byFilter.get(key) === joined) {
        byFilter.delete(key);
        if (byFilter.size === 0 && this.groups.get(tenantId) === byFilter) this.groups.delete(tenantId);
      }
      this.releaseTenant(tenantId);
    }, this.buffers);
    joined.followers.add(follower);
    return follower;
  }

  /** Follow calls in progress, and tenants registered (for metrics). */
  state(): { followers: number; tenants: number; bufferedBytes: number } {
    let followers = 0;
    for (const byFilter of this.groups.values()) for (const group of byFilter.values()) followers += group.followers.size;
    return { followers, tenants: this.tenants.size, bufferedBytes: this.buffers.heldBytes };
  }

  /** Ends every follower with UNAVAILABLE and refuses new ones (shutdown has begun). */
  drain(): void {
    this.closed = true;
    this.failAll(new VaultError('UNAVAILABLE', 'the server is shutting down: follow again (another instance will serve it)', { retryAfterMs: 1000 }));
  }

  async close(): Promise<void> {
    this.drain();
    clearTimeout(this.refreshTimer);
    this.reads.abort(new VaultError('UNAVAILABLE', 'the server is shutting down'));
    await Promise.allSettled([...this.leaving.values()]);
    await this.source.close();
  }

  private dispatch(notice: CommitNotice): void {
    const byFilter = this.groups.get(notice.tenantId);
    if (byFilter === undefined) return;
    for (const group of byFilter.values()) {
      const wanting = [...group.followers].filter((follower) => follower.wants(notice.xid));
      if (wanting.length === 0) continue;
      const read = this.repository.readKeys(group.selection, notice.keys, group.payloadAsJson, { timeoutMs: this.settings.statementTimeoutMs, signal: this.reads.signal });
      // Handled by each follower; this catch only keeps an unread failure from being reported as unhandled.
      read.catch(() => undefined);
      for (const follower of wanting) follower.push(notice.xid, read);
    }
  }

  private releaseTenant(tenantId: string): void {
    const registration = this.tenants.get(tenantId);
    if (registration === undefined) return;
    registration.followers--;
    if (registration.followers > 0) return;
    this.tenants.delete(tenantId);
    const previous = this.leaving.get(tenantId);
    const leaving = (async () => {
      await previous;
      await registration.ready.catch(() => undefined);
      await this.repository.unregister(tenantId, this.instanceId).catch((error: unknown) => this.logger.warn({ err: error, tenantId }, 'a live tail registration could not be deleted; it expires by itself'));
    })();
    this.leaving.set(tenantId, leaving);
    void leaving.finally(() => {
      if (this.leaving.get(tenantId) === leaving) this.leaving.delete(tenantId);
    });
  }

  private failAll(error: VaultError): void {
    for (const byFilter of [...this.groups.values()]) for (const group of [...byFilter.values()]) for (const follower of [...group.followers]) follower.fail(error);
  }

  private failTenant(tenantId: string, error: VaultError): void {
    const byFilter = this.groups.get(tenantId);
    if (byFilter === undefined) return;
    for (const group of [...byFilter.values()]) for (const follower of [...group.followers]) follower.fail(error);
  }

  /** Refreshes the registrations every third of their TTL while there are any. */
  private scheduleRefresh(): void {
    if (this.refreshTimer !== undefined || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh().finally(() => {
        if (this.tenants.size > 0) this.scheduleRefresh();
      });
    }, Math.floor(this.settings.registrationTtlMs / 3));
    this.refreshTimer.unref();
  }

  private async refresh(): Promise<void> {
    const registered = [...this.tenants].filter(([, registration]) => registration.registered).map(([tenantId]) => tenantId);
    const lost = new VaultError('UNAVAILABLE', 'the server could not keep its live tail registration, so new events could be missed: follow again with the same filter and drop the events already received (docs/api.md, "Resuming a follow")', { retryAfterMs: 1000 });
    try {
      const kept = await this.repository.refresh(this.instanceId, this.settings.registrationTtlMs);
      this.lastRefreshAt = Date.now();
      for (const tenantId of registered) if (!kept.has(tenantId)) this.failTenant(tenantId, lost);
    } catch (error) {
      this.logger.warn({ err: error }, 'live tail registrations could not be refreshed');
      // Past the TTL, other instances may delete them and writers stop notifying.
      if (Date.now() - this.lastRefreshAt >= this.settings.registrationTtlMs) for (const tenantId of registered) this.failTenant(tenantId, lost);
    }
  }
}
