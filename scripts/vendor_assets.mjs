// Copies the browser files the platform serves from npm's node_modules into the git-ignored
// yoloforge/platform/web/static/vendor folder (run by `npm ci` as postinstall; `make setup` runs npm ci).
// No CDN at run time: installations are often offline.
import { cpSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "yoloforge", "platform", "web", "static", "vendor");
const files = {
  "htmx.min.js": "htmx.org/dist/htmx.min.js",
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
  "axe.min.js": "axe-core/axe.min.js",
  "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
  "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
  "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
};
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, src] of Object.entries(files)) {
  const path = join(root, "node_modules", src);
  if (!existsSync(path)) {
    console.error(`vendor_assets: ${src} is missing from node_modules: run npm ci again`);
    process.exit(1);
  }
  cpSync(path, join(out, name));
}
console.log(`vendor_assets: ${Object.keys(files).length} files -> ${out}`);
