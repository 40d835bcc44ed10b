import { executeMerge, MERGE, mergeWithTenants, PREPARE_MERGE } from '../../src/storage/event-writer';

/** The writer's merge goes out in a simple-query script, which carries no parameters (one-round-trip-copy.ts). */
describe('mergeWithTenants', () => {
  const tenants = ['7c9e6679-7425-40de-944b-e07fc1f99ae6', '0a7e9c1e-1111-4222-8333-944455556666'];

  test('writes the tenant list in as a uuid[] literal, every occurrence, and leaves no parameter behind', () => {
    expect(MERGE).toContain('$1::uuid[]');
    const merge = mergeWithTenants(tenants);
    expect(merge).not.toMatch(/\$\d/);
    const literal = `'{${tenants.join(',')}}'::uuid[]`;
    expect(merge.split(literal).length - 1).toBe(MERGE.split('$1::uuid[]').length - 1);
  });

  test('refuses anything that is not a UUID, so nothing else is ever spliced into SQL', () => {
    expect(() => mergeWithTenants([tenants[0]!, "x'}'::uuid[]; DROP TABLE events; --"])).toThrow(/not a tenant id/);
    expect(() => mergeWithTenants([''])).toThrow(/not a tenant id/);
    expect(() => executeMerge([tenants[0]!, "x'}'::uuid[]; DROP TABLE events; --"])).toThrow(/not a tenant id/);
  });

  test('the prepared merge is MERGE itself, executed with the same uuid[] literal', () => {
    expect(PREPARE_MERGE).toBe(`PREPARE telemetry_vault_merge(uuid[]) AS ${MERGE}`);
    expect(executeMerge(tenants)).toBe(`EXECUTE telemetry_vault_merge('{${tenants.join(',')}}'::uuid[])`);
  });
});
