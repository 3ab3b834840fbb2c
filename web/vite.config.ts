import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The Rust server embeds `dist/` (rust-embed), so the output must be
// deterministic and self-contained: no sourcemaps, hashed assets only.
const apiTarget = process.env.QUICKDAPP_API_URL ?? 'http://127.0.0.1:3000'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    // Keep everything as real files; the CSP forbids data: scripts/fonts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev` proxies API calls (and the /api/ws socket) to a locally
    // running QuickDapp server. Override the target with
    // QUICKDAPP_API_URL=http://127.0.0.1:PORT. Sign-in checks the SIWE domain,
    // so start that server with BASE_URL=http://localhost:5173.
    proxy: {
      '/health': apiTarget,
      '/auth': apiTarget,
      '/api': { target: apiTarget, ws: true },
    },
  },
})
