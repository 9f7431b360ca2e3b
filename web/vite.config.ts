import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The Go front (make dev) serves web/dist at /; `npm run dev` proxies /api to it.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/webhooks": "http://127.0.0.1:8080" } },
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
