import { loadConfig } from '../../src/config/load-config';

describe('OTLP_GRPC_PORT and OTLP_HTTP_PORT', () => {
  test('when unset, then they are OTLP\'s standard ports, or free ones (0) when GRPC_PORT is 0', () => {
    expect(loadConfig({}).otlp).toEqual({ grpcPort: 4317, httpPort: 4318 });
    expect(loadConfig({ GRPC_PORT: '0' }).otlp).toEqual({ grpcPort: 0, httpPort: 0 });
  });

  test('when set to a port, 0 or off, then that is used (off = none)', () => {
    expect(loadConfig({ OTLP_GRPC_PORT: '14317', OTLP_HTTP_PORT: '0' }).otlp).toEqual({ grpcPort: 14317, httpPort: 0 });
    expect(loadConfig({ GRPC_PORT: '0', OTLP_GRPC_PORT: 'off', OTLP_HTTP_PORT: 'OFF' }).otlp).toEqual({ grpcPort: undefined, httpPort: undefined });
  });

  test('when set to something else, then start-up fails naming the variable', () => {
    expect(() => loadConfig({ OTLP_GRPC_PORT: '70000' })).toThrow(/OTLP_GRPC_PORT must be a port \(0\.\.65535, 0 = a free one\) or off, got "70000"/);
    expect(() => loadConfig({ OTLP_HTTP_PORT: 'yes' })).toThrow(/OTLP_HTTP_PORT must be a port/);
  });
});
