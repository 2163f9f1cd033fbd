import { DEFAULT_TIERS, HANDLER_NAMES, tierOf, type HandlerName, type Json } from '@aegis/core';
import {
  DEFAULT_SETTINGS,
  HandlerRegistry,
  RegistryError,
  createDefaultRegistry,
  planHash,
  type Handler,
} from '../src';
import { ALL_HANDLERS } from '../src/handlers';
import { NOW, target } from './helpers';

/** A resource id of each handler's type, and a non-compliant state of it, as inspect would return. */
const SAMPLES: Record<HandlerName, { id: string; state: Json }> = {
  'block-public-ssh': {
    id: 'sg-0abc123def4567890',
    state: {
      group_id: 'sg-0abc123def4567890',
      grants: [{ protocol: 'tcp', from_port: 0, to_port: 65535, cidr: '0.0.0.0/0', family: 'ipv4', description: 'x' }],
    },
  },
  's3-block-public-access': { id: 'acme-logs', state: { bucket: 'acme-logs', region: 'us-east-1', config: null } },
  'enforce-imdsv2': {
    id: 'i-0abc123def4567890',
    state: {
      instance_id: 'i-0abc123def4567890',
      instance_state: 'running',
      http_tokens: 'optional',
      http_endpoint: 'enabled',
      hop_limit: 2,
    },
  },
  'enable-guardduty': {
    id: '123456789012',
    state: { account_id: '123456789012', region: 'us-east-1', detector: null },
  },
  'rotate-iam-keys': {
    id: 'arn:aws:iam::123456789012:user/svc-aegis',
    state: {
      user_name: 'svc-aegis',
      keys: [
        {
          access_key_id: 'AKIAOLD0000000000001',
          status: 'Active',
          created: '2025-01-01T00:00:00.000Z',
          last_used: null,
          last_used_service: null,
        },
      ],
    },
  },
  'run-patch-baseline': {
    id: 'i-0abc123def4567891',
    state: {
      instance_id: 'i-0abc123def4567891',
      missing: 3,
      failed: 0,
      installed: 10,
      installed_pending_reboot: 0,
      last_operation_end: null,
    },
  },
};

const registry = createDefaultRegistry();
const handlers = registry.all();

describe('the default registry', () => {
  it('holds all six handlers, once each', () => {
    expect(handlers.map((h) => h.name).sort()).toEqual([...HANDLER_NAMES].sort());
    expect(ALL_HANDLERS).toHaveLength(HANDLER_NAMES.length);
  });

  describe.each(HANDLER_NAMES.map((n) => [n]))('%s', (name) => {
    const h: Handler = registry.get(name);
    const sample = SAMPLES[name];

    it("has the tier of core's tier table", () => {
      expect(h.tier).toBe(tierOf(name));
      expect(DEFAULT_TIERS[h.tier].handlers).toContain(name);
    });

    it('declares its IAM actions as service:Action strings', () => {
      expect(h.iamActions.length).toBeGreaterThan(0);
      for (const a of h.iamActions) expect(a).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$/);
      expect(new Set(h.iamActions).size).toBe(h.iamActions.length);
    });

    it('has a description, a resource type and the four steps', () => {
      expect(h.description.length).toBeGreaterThan(10);
      expect(h.resourceType.length).toBeGreaterThan(3);
      for (const step of [h.inspect, h.plan, h.apply, h.verify, h.checkResourceId])
        expect(typeof step).toBe('function');
    });

    it('has a rollback, or says why it has none', () => {
      if (h.rollback.reversible) {
        expect(typeof h.rollback.restore).toBe('function');
        expect(typeof h.rollback.drifted).toBe('function');
      } else {
        expect(h.rollback.reason.length).toBeGreaterThan(20);
      }
    });

    it('accepts its own kind of resource id and refuses malformed ones', () => {
      expect(h.checkResourceId(sample.id)).toBeNull();
      expect(h.checkResourceId('')).not.toBeNull();
      expect(h.checkResourceId('has space')).not.toBeNull();
    });

    it('plans plain JSON that hashes the same after a trip through a snapshot file', () => {
      const t = target(sample.id);
      const plan = h.plan(sample.state, t, DEFAULT_SETTINGS, NOW);
      expect(plan.noop).toBe(false);
      expect(plan.changes.length).toBeGreaterThan(0);
      const stored = JSON.parse(JSON.stringify(plan)) as typeof plan;
      expect(stored).toEqual(plan);
      expect(planHash(stored.ops)).toBe(planHash(plan.ops));
      // Pure: planning again from the same state gives the same plan.
      expect(h.plan(sample.state, t, DEFAULT_SETTINGS, NOW)).toEqual(plan);
      // Planning from the planned state finds nothing left to do (the rollback of that is the previous state).
      expect(h.plan(plan.planned_state, t, DEFAULT_SETTINGS, NOW).noop).toBe(true);
    });
  });

  it('lists every IAM action once, sorted, including the ones rollbacks need', () => {
    const all = registry.iamActions();
    expect(all).toEqual([...new Set(all)].sort());
    expect(all).toEqual(
      expect.arrayContaining([
        'ec2:AuthorizeSecurityGroupIngress',
        's3:PutBucketPublicAccessBlock',
        'ec2:ModifyInstanceMetadataOptions',
        'guardduty:DeleteDetector',
        'iam:UpdateAccessKey',
      ]),
    );
  });

  it('refuses cross-type ids where the shapes cannot overlap', () => {
    expect(registry.get('enforce-imdsv2').checkResourceId('acme-logs')).not.toBeNull();
    expect(registry.get('block-public-ssh').checkResourceId('i-0abc123def4567890')).not.toBeNull();
    expect(registry.get('enable-guardduty').checkResourceId('sg-0abc123def4567890')).not.toBeNull();
    expect(registry.get('run-patch-baseline').checkResourceId('123456789012')).not.toBeNull();
    expect(registry.get('s3-block-public-access').checkResourceId('arn:aws:iam::123456789012:user/a')).not.toBeNull();
  });
});

describe('HandlerRegistry refuses a bad catalogue', () => {
  const [first] = ALL_HANDLERS;
  if (!first) throw new Error('no handlers');

  it('a handler registered twice', () => {
    expect(() => new HandlerRegistry([...ALL_HANDLERS, first])).toThrow(RegistryError);
    expect(() => new HandlerRegistry([...ALL_HANDLERS, first])).toThrow(/registered twice/);
  });

  it('an unknown handler name', () => {
    const stray = { ...first, name: 'delete-everything' } as unknown as Handler;
    expect(() => new HandlerRegistry([...ALL_HANDLERS, stray])).toThrow(/unknown handler name "delete-everything"/);
    expect(() => createDefaultRegistry().get('delete-everything')).toThrow(RegistryError);
  });

  it('a registry that leaves a handler out', () => {
    expect(() => new HandlerRegistry(ALL_HANDLERS.filter((h) => h.name !== 'rotate-iam-keys'))).toThrow(
      /no handler registered for: rotate-iam-keys/,
    );
  });
});
