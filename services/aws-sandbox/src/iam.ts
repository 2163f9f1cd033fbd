import type { SandboxContext, ServiceHandler } from './context';
import type { AccessKey, IamUser } from './state';
import {
  AwsError,
  type ParamTree,
  type SandboxRequest,
  type XmlObject,
  list,
  paramTree,
  queryError,
  queryParams,
  queryResult,
  str,
  upperAlnum,
} from './wire';

const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/';
const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Call {
  p: ParamTree;
  req: SandboxRequest;
  ctx: SandboxContext;
}

function userXml(u: IamUser): XmlObject {
  return { Path: u.path, UserName: u.userName, UserId: u.userId, Arn: u.arn, CreateDate: iso(u.createDate) };
}

function keyMeta(u: IamUser, k: AccessKey): XmlObject {
  return { UserName: u.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: iso(k.createDate) };
}

function getUser(ctx: SandboxContext, name: string): IamUser {
  const u = ctx.state.users.get(name);
  if (!u) throw new AwsError('NoSuchEntity', `The user with name ${name} cannot be found.`, 404);
  return u;
}

/** The named user, else the user whose key signed the request (as IAM does). */
function targetUser(c: Call): IamUser | undefined {
  const name = str(c.p, 'UserName');
  if (name !== undefined) return getUser(c.ctx, name);
  return c.req.accessKeyId ? c.ctx.state.findAccessKey(c.req.accessKeyId)?.user : undefined;
}

function requireUser(c: Call): IamUser {
  const u = targetUser(c);
  if (!u) throw new AwsError('ValidationError', 'Must specify userName when calling with non-User credentials');
  return u;
}

/** A key by id: of the named (or calling) user, else of any user. */
function findKey(c: Call): { user: IamUser; key: AccessKey } {
  const id = str(c.p, 'AccessKeyId') ?? '';
  const u = targetUser(c);
  const found = u ? u.keys.find((k) => k.accessKeyId === id) : c.ctx.state.findAccessKey(id)?.key;
  const user = u ?? c.ctx.state.findAccessKey(id)?.user;
  if (!found || !user) throw new AwsError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`, 404);
  return { user, key: found };
}

type Action = (c: Call) => XmlObject | undefined;

const ACTIONS: Record<string, Action> = {
  CreateUser(c) {
    const name = str(c.p, 'UserName') ?? '';
    if (!/^[\w+=,.@-]{1,64}$/.test(name)) {
      throw new AwsError(
        'ValidationError',
        `1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint`,
      );
    }
    if (c.ctx.state.users.has(name))
      throw new AwsError('EntityAlreadyExists', `User with name ${name} already exists.`, 409);
    const path = str(c.p, 'Path') ?? '/';
    const tags: Record<string, string> = {};
    for (const t of list(c.p, 'Tags', 'member')) tags[str(t, 'Key') ?? ''] = str(t, 'Value') ?? '';
    const u: IamUser = {
      userName: name,
      userId: `AIDA${upperAlnum(17)}`,
      arn: `arn:aws:iam::${c.ctx.state.accountId}:user${path}${name}`,
      path,
      createDate: c.ctx.now(),
      tags,
      keys: [],
    };
    c.ctx.state.users.set(name, u);
    return { User: userXml(u) };
  },
  GetUser(c) {
    const u = targetUser(c);
    if (u) return { User: userXml(u) };
    return {
      User: {
        Path: '/',
        UserId: c.ctx.state.accountId,
        Arn: `arn:aws:iam::${c.ctx.state.accountId}:root`,
        CreateDate: iso(0),
      },
    };
  },
  ListUsers(c) {
    return { Users: { member: [...c.ctx.state.users.values()].map(userXml) }, IsTruncated: false };
  },
  DeleteUser(c) {
    const u = getUser(c.ctx, str(c.p, 'UserName') ?? '');
    if (u.keys.length)
      throw new AwsError('DeleteConflict', 'Cannot delete entity, must delete access keys first.', 409);
    c.ctx.state.users.delete(u.userName);
    return undefined;
  },
  CreateAccessKey(c) {
    const u = requireUser(c);
    if (u.keys.length >= 2) throw new AwsError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2', 409);
    const k: AccessKey = {
      accessKeyId: `AKIA${upperAlnum(16)}`,
      secretAccessKey: Buffer.from(upperAlnum(30)).toString('base64').slice(0, 40),
      status: 'Active',
      createDate: c.ctx.now(),
    };
    u.keys.push(k);
    return { AccessKey: { ...keyMeta(u, k), SecretAccessKey: k.secretAccessKey } };
  },
  ListAccessKeys(c) {
    const u = requireUser(c);
    return {
      UserName: u.userName,
      AccessKeyMetadata: { member: u.keys.map((k) => keyMeta(u, k)) },
      IsTruncated: false,
    };
  },
  UpdateAccessKey(c) {
    const status = str(c.p, 'Status');
    if (status !== 'Active' && status !== 'Inactive') {
      throw new AwsError(
        'ValidationError',
        `1 validation error detected: Value '${status ?? ''}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`,
      );
    }
    findKey(c).key.status = status;
    return undefined;
  },
  GetAccessKeyLastUsed(c) {
    const id = str(c.p, 'AccessKeyId') ?? '';
    const found = c.ctx.state.findAccessKey(id);
    if (!found) throw new AwsError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`, 404);
    const { user, key } = found;
    const used = key.lastUsed;
    return {
      UserName: user.userName,
      AccessKeyLastUsed: used
        ? { LastUsedDate: iso(used.date), ServiceName: used.service, Region: used.region }
        : { ServiceName: 'N/A', Region: 'N/A' },
    };
  },
  DeleteAccessKey(c) {
    const { user, key } = findKey(c);
    user.keys = user.keys.filter((k) => k !== key);
    return undefined;
  },
};

export const iam: ServiceHandler = {
  service: 'iam',
  operation: (req) => queryParams(req).get('Action') ?? 'Unknown',
  handle(req, ctx) {
    const p = paramTree(queryParams(req));
    const action = str(p, 'Action') ?? '';
    const fn = ACTIONS[action];
    if (!fn) throw new AwsError('InvalidAction', `Could not find operation ${action} for version 2010-05-08`);
    return queryResult(action, IAM_NS, fn({ p, req, ctx }) ?? {}, req.requestId);
  },
  error: (err, req) => queryError(err, IAM_NS, req.requestId),
  throttled: () => new AwsError('Throttling', 'Rate exceeded', 400),
};
