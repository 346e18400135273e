// Copy the browser builds Verrou serves itself from node_modules into static/vendor/.
//
//   npm ci && node vendor.mjs           write static/vendor/ (what `make vendor` runs)
//   node vendor.mjs --check             exit 1 when static/vendor/ differs from node_modules
//
// The output depends only on package-lock.json, so the committed copy can be checked. Only
// production builds are copied; source map comments are dropped (the maps are not served),
// and the fonts GraphiQL's CSS inlines as data: URIs become files, so a page served with
// `font-src 'self'` (or only `default-src 'self'`) still gets them.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const modules = join(web, "node_modules");
const target = join(web, "static", "vendor");

const read = (path) => readFileSync(join(modules, path));
const text = (path) => read(path).toString("utf8");
const withoutSourceMap = (source) => source.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");

function licenceOf(pkg, { required = true } = {}) {
  const name = readdirSync(join(modules, pkg)).find((file) => /^licen[cs]e/i.test(file));
  if (name) return read(join(pkg, name));
  if (required) throw new Error(`${pkg} has no licence file`);
  return null;
}

/** GraphiQL's CSS with each inlined font written to fonts/<sha256 prefix>.<ext>. */
function graphiqlCss(files) {
  const css = text("graphiql/graphiql.min.css");
  return css.replace(/url\(data:font\/([a-z0-9]+);base64,([A-Za-z0-9+/=]+)\)/g, (_, ext, b64) => {
    const font = Buffer.from(b64, "base64");
    const name = `${createHash("sha256").update(font).digest("hex").slice(0, 16)}.${ext}`;
    files.set(`graphiql/fonts/${name}`, font);
    return `url(fonts/${name})`;
  });
}

/** Every runtime package's licence (GraphiQL's bundle contains its whole dependency tree). */
function thirdPartyLicences() {
  const lock = JSON.parse(readFileSync(join(web, "package-lock.json"), "utf8"));
  const parts = [];
  for (const [path, entry] of Object.entries(lock.packages).sort()) {
    if (!path || entry.dev) continue;
    const pkg = path.replace(/^node_modules\//, "");
    const header = `${pkg.replace(/.*node_modules\//, "")} ${entry.version} (${entry.license})`;
    const licence = licenceOf(pkg, { required: false }) ?? "(no licence file in the package)\n";
    parts.push(`${"=".repeat(78)}\n${header}\n${"=".repeat(78)}\n${licence}`);
  }
  return Buffer.from(parts.join("\n"));
}

function build() {
  const files = new Map();
  const js = (from, to) => files.set(to, Buffer.from(withoutSourceMap(text(from))));
  js("react/umd/react.production.min.js", "react/react.production.min.js");
  files.set("react/LICENSE", licenceOf("react"));
  js("react-dom/umd/react-dom.production.min.js", "react-dom/react-dom.production.min.js");
  files.set("react-dom/LICENSE", licenceOf("react-dom"));
  js("graphiql/graphiql.min.js", "graphiql/graphiql.min.js");
  files.set("graphiql/graphiql.min.css", Buffer.from(graphiqlCss(files)));
  files.set("graphiql/LICENSE", licenceOf("graphiql"));
  // graphql-ws's browser client is a plain ES module and one shared chunk.
  for (const name of readdirSync(join(modules, "graphql-ws/dist"))) {
    if (name === "client.js" || /^common-[\w-]+\.js$/.test(name)) {
      js(`graphql-ws/dist/${name}`, `graphql-ws/${name}`);
    }
  }
  files.set("graphql-ws/LICENSE.md", licenceOf("graphql-ws"));
  // @simplewebauthn/browser's ES module build: an index and the modules it imports, kept in
  // their folders (the imports are relative). Its type declarations are left behind.
  const webauthn = "@simplewebauthn/browser/esm";
  for (const path of listed(join(modules, webauthn)).filter((name) => name.endsWith(".js"))) {
    js(`${webauthn}/${path}`, `simplewebauthn/${path}`);
  }
  files.set("simplewebauthn/LICENSE.md", licenceOf("@simplewebauthn/browser"));
  files.set("THIRD_PARTY_LICENSES.txt", thirdPartyLicences());
  return files;
}

function listed(dir, prefix = "") {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? listed(join(dir, entry.name), `${prefix}${entry.name}/`)
      : [`${prefix}${entry.name}`],
  );
}

const files = build();
if (process.argv.includes("--check")) {
  const stale = [];
  for (const [path, content] of files) {
    const onDisk = join(target, path);
    if (!existsSync(onDisk) || !readFileSync(onDisk).equals(content)) stale.push(path);
  }
  stale.push(...listed(target).filter((path) => !files.has(path)));
  if (stale.length) {
    console.error(`static/vendor/ differs from node_modules: ${stale.join(", ")}`);
    console.error("run `make vendor` and commit static/vendor/");
    process.exit(1);
  }
  console.log(`static/vendor/ matches node_modules (${files.size} files)`);
} else {
  rmSync(target, { recursive: true, force: true });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(target, path)), { recursive: true });
    writeFileSync(join(target, path), content);
  }
  console.log(`wrote ${files.size} files to ${relative(process.cwd(), target) || "."}`);
}
