import type { Metadata } from '@grpc/grpc-js';
import type { CallContext } from '../../domain/call-context';
import type { CallAdmission } from './call-pipeline';

/** Admission steps run in order (authentication, then rate limits); the first refusal ends the call. */
export class AdmissionChain implements CallAdmission {
  private readonly steps: readonly CallAdmission[];

  constructor(...steps: CallAdmission[]) {
    this.steps = steps;
  }

  async admit(ctx: CallContext, metadata: Metadata, responseMetadata: Metadata): Promise<void> {
    for (const step of this.steps) await step.admit(ctx, metadata, responseMetadata);
  }
}
