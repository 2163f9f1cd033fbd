import type { ServiceHandler, SandboxContext } from './context';
import { ec2GroupActions } from './ec2-groups';
import { ec2InstanceActions } from './ec2-instances';
import {
  AwsError,
  type ParamTree,
  type SandboxRequest,
  type XmlObject,
  bool,
  list,
  paramTree,
  queryParams,
  str,
  strList,
  wildcardMatch,
  xmlDocument,
  xmlResponse,
} from './wire';

export const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export interface Ec2Call {
  params: ParamTree;
  region: string;
  requestId: string;
  ctx: SandboxContext;
}

/** An action returns the body of `<ActionResponse>` (requestId is added). */
export type Ec2Action = (call: Ec2Call) => XmlObject;

const ACTIONS: Record<string, Ec2Action> = { ...ec2GroupActions, ...ec2InstanceActions };

export const ec2: ServiceHandler = {
  service: 'ec2',
  operation: (req) => queryParams(req).get('Action') ?? 'Unknown',
  handle(req, ctx) {
    const params = paramTree(queryParams(req));
    const action = str(params, 'Action') ?? '';
    const fn = ACTIONS[action];
    if (!fn) throw new AwsError('InvalidAction', `The action ${action} is not valid for this web service.`);
    const body = fn({ params, region: req.region, requestId: req.requestId, ctx });
    return xmlResponse(200, xmlDocument(`${action}Response`, EC2_NS, { requestId: req.requestId, ...body }));
  },
  error(err, req: SandboxRequest) {
    const body = { Errors: { Error: { Code: err.code, Message: err.message } }, RequestID: req.requestId };
    return xmlResponse(err.status, xmlDocument('Response', undefined, body));
  },
  throttled: () => new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503),
};

/** EC2's DryRun answer, after the request has been validated. */
export function dryRun(params: ParamTree): void {
  if (bool(params, 'DryRun')) {
    throw new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  }
}

export interface Filter {
  name: string;
  values: string[];
}

export function filters(params: ParamTree): Filter[] {
  return list(params, 'Filter').map((f) => ({ name: str(f, 'Name') ?? '', values: strList(f, 'Value') }));
}

/**
 * Applies EC2 filters: each filter must match (AND), any of its values may match (OR), values take
 * `*`/`?` wildcards. `fields` gives the candidate values of a filter name for one resource.
 */
export function matchesFilters(
  all: Filter[],
  fields: (name: string) => string[] | undefined,
  tags: Record<string, string>,
): boolean {
  return all.every((f) => {
    let candidates: string[] | undefined;
    if (f.name.startsWith('tag:')) {
      const v = tags[f.name.slice(4)];
      candidates = v === undefined ? [] : [v];
    } else if (f.name === 'tag-key') candidates = Object.keys(tags);
    else if (f.name === 'tag-value') candidates = Object.values(tags);
    else candidates = fields(f.name);
    if (candidates === undefined) throw new AwsError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    return f.values.some((p) => candidates.some((c) => wildcardMatch(p, c)));
  });
}

/** `Tag.N.Key/Value` or `TagSpecification.N.Tag.M…` for one resource type. */
export function tagsFrom(params: ParamTree, resourceType?: string): Record<string, string> {
  const tags: Record<string, string> = {};
  const add = (items: ParamTree[]) => {
    for (const t of items) {
      const k = str(t, 'Key');
      if (k !== undefined) tags[k] = str(t, 'Value') ?? '';
    }
  };
  if (resourceType === undefined) add(list(params, 'Tag'));
  else
    for (const spec of list(params, 'TagSpecification'))
      if (str(spec, 'ResourceType') === resourceType) add(list(spec, 'Tag'));
  return tags;
}

export function tagSet(tags: Record<string, string>): XmlObject {
  return { item: Object.entries(tags).map(([key, value]) => ({ key, value })) };
}
