// Typed clients: TypeScript types generated from schema.graphql and the web client's operations
// with @graphql-codegen/cli (the `typescript` and `typescript-operations` plugins), then checked
// by `tsc --noEmit --strict` together with a client module that uses them. Fails when an
// operation no longer matches the schema, or the generated types do not compile.
//
//   node typed-clients.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generate } from '@graphql-codegen/cli';

import { ROOT, webClientOperations } from './operations.mjs';

const work = mkdtempSync(join(tmpdir(), 'verrou-typed-'));
let failed = false;
try {
  const operations = webClientOperations();
  // Codegen wants unique operation names; a document per operation keeps its file visible.
  operations.forEach((operation, index) => {
    writeFileSync(join(work, `${String(index).padStart(3, '0')}.graphql`), operation.printed);
  });
  console.log(`${operations.length} operations of the web client`);
  await generate({
    schema: join(ROOT, 'schema.graphql'),
    documents: join(work, '*.graphql'),
    generates: {
      [join(work, 'graphql.ts')]: {
        plugins: ['typescript-operations'],
        config: {
          strictScalars: true,
          scalars: { DateTime: 'string', Upload: 'File', JSON: 'unknown' },
          enumsAsTypes: true,
        },
      },
    },
    silent: true,
  }, true);
  // A client of the generated types, as an app would write one: it must type-check.
  writeFileSync(join(work, 'client.ts'), `
import type { ErrorCode, TwoFactorMethod, ViewerQuery } from './graphql';

export function describe(result: ViewerQuery): string {
  const viewer = result.viewer;
  return viewer === null || viewer === undefined ? 'signed out' : viewer.email;
}
export const refused: ErrorCode = 'PERSISTED_QUERY_NOT_ALLOWED';
export const method: TwoFactorMethod | null = null;
`);
  const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', import.meta.url));
  execFileSync(process.execPath, [
    tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'es2022',
    '--moduleResolution', 'bundler', '--skipLibCheck',
    join(work, 'graphql.ts'), join(work, 'client.ts'),
  ], { stdio: 'inherit' });
  console.log('pass  generated types compile with tsc --noEmit --strict');
} catch (error) {
  failed = true;
  console.error(`FAIL  typed clients: ${error?.message ?? error}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
