import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import {
  CloudClients,
  DEFAULT_SETTINGS,
  createDefaultRegistry,
  type HandlerContext,
  type Target,
} from '@aegis/handlers';
import type { Json } from '@aegis/core';
import { REPO_ROOT } from './run-cli';

/**
 * The cloud of the end-to-end test: the project's aws-sandbox as a real process of its own, so it
 * outlives the stack and `rollback --from-file` can be tried with the dispatcher gone.
 */
export interface SandboxProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => (c.destroy(), resolve(false)));
  });
}

export async function startSandbox(port: number): Promise<SandboxProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'services', 'aws-sandbox', 'src', 'main.ts')],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, AEGIS_SANDBOX_PORT: String(port), AEGIS_SANDBOX_SEED: 'true', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`aws-sandbox exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('aws-sandbox did not listen within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The demo resources the sandbox seeds, one misconfiguration per handler. */
export interface Seeded {
  account_id: string;
  region: string;
  security_group_id: string;
  bucket: string;
  imds_instance_id: string;
  iam_user_arn: string;
  guardduty_region: string;
  patch_instance_id: string;
}

export async function seeded(sandboxUrl: string): Promise<Seeded> {
  const res = await fetch(`${sandboxUrl}/_sandbox/seed`);
  if (!res.ok) throw new Error(`GET /_sandbox/seed -> ${res.status}`);
  return (await res.json()) as Seeded;
}

/**
 * Reads resources the way the handlers do, straight from the sandbox: the independent check of
 * what the CLI claims to have changed.
 */
export class CloudProbe {
  private readonly clients: CloudClients;
  private readonly ctx: HandlerContext;
  private readonly registry = createDefaultRegistry();

  constructor(
    sandboxPort: number,
    private readonly account: string,
    private readonly region: string,
  ) {
    // Node 20 is the project's runtime; the SDK's notice about 2027 releases is noise in test output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.clients = new CloudClients({ cloud: 'sandbox', sandboxPort });
    this.ctx = { clients: this.clients, settings: DEFAULT_SETTINGS, now: () => new Date() };
  }

  private target(resourceId: string): Target {
    return { resource_id: resourceId, account_id: this.account, region: this.region };
  }

  async compliant(handler: string, resourceId: string): Promise<boolean> {
    return (await this.registry.get(handler).verify(this.ctx, this.target(resourceId))).compliant;
  }

  /** Is the live resource back in `previous_state`? (the dispatcher's own post-rollback check) */
  async matches(handler: string, resourceId: string, previous: Json, ops: Json): Promise<string | null> {
    const h = this.registry.get(handler);
    if (!h.rollback.reversible) throw new Error(`${handler} is irreversible`);
    const now = await h.inspect(this.ctx, this.target(resourceId));
    return h.rollback.drifted(now, { previous_state: previous, planned_state: previous, ops });
  }

  destroy(): void {
    this.clients.destroy();
  }
}

/** A finding as `aegis findings import` reads it. */
export function finding(id: string, handler: string, resourceId: string, s: Seeded, region = s.region) {
  return { id, handler, provider: 'aws', account_id: s.account_id, region, resource_id: resourceId, severity: 'high' };
}

/** Make the sandbox fail matching calls (its chaos admin API), e.g. AccessDenied on one resource. */
export async function injectFault(
  sandboxUrl: string,
  fault: { operation: string; resource_id: string; code: string; times: number },
): Promise<void> {
  const res = await fetch(`${sandboxUrl}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (!res.ok) throw new Error(`POST /_sandbox/faults -> ${res.status} ${await res.text()}`);
}
