import { cpSync, existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Copies a package and its run-time dependency closure out of a pnpm tree into one flat
 * `node_modules`. The images install services with `--prod`, which leaves out tsx (a root
 * devDependency); this puts tsx (and esbuild with its platform binary) back, taken from the same
 * lockfile-pinned install, without shipping the other devDependencies.
 */

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export interface VendoredPackage {
  name: string;
  version: string;
  from: string;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Node's lookup: `<ancestor>/node_modules/<name>` for every ancestor not itself named node_modules. */
export function locatePackage(name: string, fromDir: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The closure of `name` as seen from `root` (missing optional dependencies, e.g. other platforms' binaries, are skipped). */
export function dependencyClosure(name: string, root: string): VendoredPackage[] {
  const start = locatePackage(name, root);
  if (!start) throw new Error(`${name} is not installed under ${root}`);
  const found = new Map<string, VendoredPackage>();
  const pending: Array<{ name: string; dir: string }> = [{ name, dir: start }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const manifest = readManifest(next.dir);
    const seen = found.get(next.name);
    if (seen) {
      if (seen.version !== manifest.version) {
        throw new Error(`${next.name} is needed at ${seen.version} and ${manifest.version}: cannot flatten`);
      }
      continue;
    }
    found.set(next.name, { name: next.name, version: manifest.version, from: next.dir });
    const required = Object.keys(manifest.dependencies ?? {});
    const optional = Object.keys(manifest.optionalDependencies ?? {}).filter((d) => !required.includes(d));
    for (const dep of required) {
      const dir = locatePackage(dep, next.dir);
      if (!dir) throw new Error(`${next.name} needs ${dep}, which is not installed`);
      pending.push({ name: dep, dir });
    }
    for (const dep of optional) {
      const dir = locatePackage(dep, next.dir);
      if (dir) pending.push({ name: dep, dir });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Copies the closure of `name` into `<outDir>/node_modules/<package>` (real files, no symlinks). */
export function vendorPackage(name: string, root: string, outDir: string): VendoredPackage[] {
  const closure = dependencyClosure(name, root);
  for (const pkg of closure) {
    cpSync(pkg.from, join(outDir, 'node_modules', pkg.name), { recursive: true, dereference: true });
  }
  return closure;
}

if (require.main === module) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write('usage: node --import tsx docker/vendor-tsx.ts OUT_DIR\n');
    process.exit(64);
  }
  for (const pkg of vendorPackage('tsx', process.cwd(), outDir)) {
    process.stdout.write(`vendored ${pkg.name}@${pkg.version}\n`);
  }
}
