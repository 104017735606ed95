import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the pages with hot reload and sends the API to a gateway on :8000.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:8000", ws: true } },
  },
});
