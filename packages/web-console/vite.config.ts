import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by apps/web under a CSP of script-src 'self' and
// style-src 'self': everything must land in files under assets/, with no
// inline script or style, and no module preload polyfill (an inline script).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
});
