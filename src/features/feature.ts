import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { MethodPolicies } from '../transport/grpc/calls/method-policy';

/** One gRPC service a feature serves. */
export interface FeatureService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /** How the interceptors admit each method (every method of the service is listed). */
  readonly policies: MethodPolicies;
  /** The name the health service reports it under, and the database it needs to serve. */
  readonly health: { readonly name: string; readonly database: 'primary' | 'read' };
}

/**
 * What a feature factory returns: its services, and what it must release
 * at shutdown (after the servers stopped). A new feature is one factory and
 * one line in main.ts.
 */
export interface Feature {
  readonly services: readonly FeatureService[];
  /** Shutdown has begun: end calls that would otherwise run until the grace period is over (follow calls). */
  drain?(): void;
  close?(): Promise<void>;
}
