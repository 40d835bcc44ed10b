import { ServerProcess } from '../../support/server-process';
import { freePort, LOCAL_SERVE_ENV } from './processes';

/** One `telemetry-vault serve` process of the fleet, on a fixed gRPC port so that it can be restarted behind the balancer. */
export interface FleetInstance {
  readonly grpcPort: number;
  readonly address: string;
  process: ServerProcess;
  /** The operations port (/metrics, /readyz) of the current process. */
  httpPort: number;
}

/**
 * `size` instances of `telemetry-vault serve` (dist/, as users run it) on
 * the same database and `env`, each on a gRPC port of its own picked once
 * (the balancer's upstream list names them), restartable one by one.
 */
export class VaultFleet {
  private constructor(
    readonly instances: FleetInstance[],
    private readonly env: Record<string, string>,
  ) {}

  static async start(size: number, env: Record<string, string>): Promise<VaultFleet> {
    const ports: number[] = [];
    while (ports.length < size) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const fleet = new VaultFleet(
      ports.map((grpcPort) => ({ grpcPort, address: `127.0.0.1:${grpcPort}`, process: undefined as unknown as ServerProcess, httpPort: 0 })),
      env,
    );
    // One after another: each start runs the migrations' check under their lock, and the machine has two cores.
    for (const instance of fleet.instances) await fleet.launch(instance);
    return fleet;
  }

  get ports(): number[] {
    return this.instances.map((instance) => instance.grpcPort);
  }

  /** SIGTERM, wait for the exit (the drain), then a new process on the same port; returns the exit and how long the drain took. */
  async restart(instance: FleetInstance): Promise<{ code: number | null; drainMs: number }> {
    const started = Date.now();
    instance.process.signal('SIGTERM');
    const { code } = await instance.process.exited;
    const drainMs = Date.now() - started;
    await this.launch(instance);
    return { code, drainMs };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.instances.map(async (instance) => {
        instance.process?.signal('SIGTERM');
        await instance.process?.exited;
      }),
    );
  }

  /** What the instances logged (for failure messages). */
  logs(): string {
    return this.instances.map((instance, index) => `--- instance ${index + 1} (${instance.address}) ---\n${instance.process?.stderr ?? ''}\n${instance.process?.stdoutLines.slice(-50).join('\n') ?? ''}`).join('\n');
  }

  private async launch(instance: FleetInstance): Promise<void> {
    instance.process = new ServerProcess({
      ...LOCAL_SERVE_ENV,
      GRPC_PORT: String(instance.grpcPort),
      SHUTDOWN_GRACE_PERIOD: '5s',
      DB_POOL_MAX: '6',
      ...this.env,
    });
    instance.httpPort = (await instance.process.serving()).httpPort;
  }
}
