import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

// The server serves dist/ under /console/ with a CSP that forbids inline scripts and styles, so the build emits
// only files: hashed assets under /console/assets/ (cached immutably), CSS in its own file, no preload polyfill.
// Dev mode (`npm run dev -w packages/console`): Vite serves the console and forwards every other path (the RPCs,
// the hub's callback) to a running server, ENGINE_CLOUD_URL or http://127.0.0.1:7070 (`npm start`).
const apiTarget = process.env.ENGINE_CLOUD_URL ?? "http://127.0.0.1:7070";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  // Workspace packages resolve to their TypeScript sources, so the console builds before (or without) tsc -b.
  resolve: { conditions: ["source", ...defaultClientConditions] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    // One bundle of ~550 KB (~140 KB gzipped), fetched once and cached immutably; splitting buys nothing here.
    chunkSizeWarningLimit: 700,
  },
  server: {
    host: "127.0.0.1",
    proxy: { "^/(?!console(/|$))": { target: apiTarget, changeOrigin: false } },
  },
});
